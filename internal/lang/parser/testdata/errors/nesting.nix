# Lists, parentheses, interpolations and formals recover at their
# closing bracket, or at ',' in formals.
{ a ? (1 + /* ERROR "unexpected ','" */ , b, c ? /* ERROR "unexpected '}'" */ }:
[
  (a + /* ERROR "unexpected '[)]'" */ )
  "${b + /* ERROR "unexpected '}'" */ }"
  ''
    ${c c /* ERROR "unexpected ']'" */ ]}
  ''
  [ 1 2 3 ]
  (x: x /* ERROR "unexpected ']'" */ ]
