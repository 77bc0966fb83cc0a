package parser

// NoRecover returns opts with error recovery off: the parse ends at the
// first syntax error, as it did before recovery existed.
func NoRecover(opts Options) Options {
	opts.noRecover = true
	return opts
}
