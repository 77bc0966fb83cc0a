package regex

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nixString quotes s as nix-instantiate --eval prints strings.
func nixString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

func renderGroups(s string, groups []Group) string {
	if len(groups) == 0 {
		return "[ ]"
	}
	var b strings.Builder
	b.WriteString("[")
	for _, g := range groups {
		if g.Matched() {
			b.WriteString(" " + nixString(s[g.Start:g.End]))
		} else {
			b.WriteString(" null")
		}
	}
	b.WriteString(" ]")
	return b.String()
}

// renderMatch prints builtins.match's result as Nix does.
func renderMatch(re *Regexp, s string) string {
	groups, ok := re.Match(s)
	if !ok {
		return "null"
	}
	return renderGroups(s, groups)
}

// renderSplit prints builtins.split's result as Nix does.
func renderSplit(re *Regexp, s string) string {
	var b strings.Builder
	b.WriteString("[")
	for _, p := range re.Split(s) {
		if p.IsMatch {
			b.WriteString(" " + renderGroups(s, p.Groups))
		} else {
			b.WriteString(" " + nixString(p.Text))
		}
	}
	b.WriteString(" ]")
	return b.String()
}

var matchTests = []struct {
	re, s, want string
}{
	// suite: eval-okay-regex-match
	{"foobar", "foobar", "[ ]"},
	{"fo*", "f", "[ ]"},
	{"fo+", "f", "null"},
	{"fo*", "fo", "[ ]"},
	{"fo*", "foo", "[ ]"},
	{"fo+", "foo", "[ ]"},
	{"fo{1,2}", "foo", "[ ]"},
	{"fo{1,2}", "fooo", "null"},
	{"fo*", "foobar", "null"},
	{"[[:space:]]+([^[:space:]]+)[[:space:]]+", "  foo   ", `[ "foo" ]`},
	{"[[:space:]]+([[:upper:]]+)[[:space:]]+", "  foo   ", "null"},
	{`(.*)\.nix`, "foobar.nix", `[ "foobar" ]`},
	{"[[:space:]]+([[:upper:]]+)[[:space:]]+", "  FOO   ", `[ "FOO" ]`},
	{`((.*)/)?([^/]*)\.(nix|cc)`, "/path/to/foobar.nix", `[ "/path/to/" "/path/to" "foobar" "nix" ]`},
	{`((.*)/)?([^/]*)\.(nix|cc)`, "foobar.cc", `[ null null "foobar" "cc" ]`},
	// libstdc++ quirks, checked against libstdc++ 12
	{"a?(ab)?", "ab", `[ "ab" ]`},
	{"(a|ab)(c|bcd)(d*)", "abcd", `[ "a" "bcd" "" ]`},
	{"(a*)*", "", `[ "" ]`},
	{"(a*)+", "b", "null"},
	{"(a|)*b", "aab", `[ "" ]`},
	{"()", "", `[ "" ]`},
	{"a**", "aaa", "[ ]"},
	{"a{0}", "", "[ ]"},
	{"a{2,}", "aaaa", "[ ]"},
	{"(a){2}", "aa", `[ "a" ]`},
	{"((a)|b)+", "ab", `[ "b" "a" ]`},
	{"[]a]+", "]a]", "[ ]"},
	{"[^]a]", "b", "[ ]"},
	{`[\]+`, `\\`, "[ ]"},
	{`[\n]`, "n", "[ ]"},
	{"[a-]+", "-a", "[ ]"},
	{"[--/]+", "-./", "[ ]"},
	{"[[.hyphen.]]", "-", "[ ]"},
	{"[[=a=]]+", "aA", "[ ]"},
	{"[[:ALPHA:]]", "x", "[ ]"},
	{"[[:w:]]+", "a_1", "[ ]"},
	{`\.\[\\\(\)\*\+\?\{\|\^\$`, `.[\()*+?{|^$`, "[ ]"},
	{"a]b}c", "a]b}c", "[ ]"},
	{".", "\n", "[ ]"},
	{"^a$", "a", "[ ]"},
	{"a^", "a", "null"},
	{"$a", "a", "null"},
	{"(^a|b)+", "ab", `[ "b" ]`},
	{"é+", "éé", "null"}, // the quantifier binds to the last byte only
	{"(é)+", "éé", `[ "é" ]`},
	{"[é]+", "éé", "[ ]"},
	{"[^a]", "\xff", "[ ]"},
	{"[[:alpha:]]", "é", "null"},
	{"[\x80-\xff]+", "é\xff", "[ ]"},
	{"x{1}{2}", "xx", "[ ]"},
	{"a|b|c", "c", "[ ]"},
	{"(a|b|)+c", "abc", `[ "" ]`},
}

var matchSuite2 = []struct {
	re, s, want string
}{
	// suite: eval-okay-regex-match2 (nixpkgs patterns), duplicates removed
	{"(.*)e?abi.*", "linux", "null"},
	{".*-none.*", "x86_64-unknown-linux-gnu", "null"},
	{".*nvptx.*", "x86_64-unknown-linux-gnu", "null"},
	{".*switch.*", "x86_64-unknown-linux-gnu", "null"},
	{".*-uefi.*", "x86_64-unknown-linux-gnu", "null"},
	{"[[:alnum:]+_?=-][[:alnum:]+._?=-]*", "bootstrap-stage0-glibc-bootstrapFiles", "[ ]"},
	{"[[:alnum:]+_?=-][[:alnum:]+._?=-]*", "glibc-2.40-66", "[ ]"},
	{"mirror://([a-z]+)/(.*)", "https://github.com/madler/zlib/releases/download/v1.3.1/zlib-1.3.1.tar.gz", "null"},
	{"mirror://([a-z]+)/(.*)", "https://git.savannah.gnu.org/cgit/config.git/plain/config.guess?id=948ae97ca5703224bd3eada06b7a69f40dd15a02", "null"},
	{".*/.*", "mktemp", "null"},
	{".*/.*", "rm", "null"},
	{"mirror://([a-z]+)/(.*)", "mirror://gnu/m4/m4-1.4.19.tar.bz2", "[ \"gnu\" \"m4/m4-1.4.19.tar.bz2\" ]"},
	{"5\\.[0-9]*[13579]\\..+", "5.40.0", "null"},
	{"mirror://([a-z]+)/(.*)", "mirror://cpan/src/5.0/perl-5.40.0.tar.gz", "[ \"cpan\" \"src/5.0/perl-5.40.0.tar.gz\" ]"},
	{"^([0-9][0-9\\.]*)(.*)$", "addons", "null"},
	{"^([0-9][0-9\\.]*)(.*)$", "extras", "null"},
	{"^([0-9][0-9\\.]*)(.*)$", "10", "[ \"10\" \"\" ]"},
	{"^([0-9][0-9\\.]*)(.*)$", "11", "[ \"11\" \"\" ]"},
	{"[[:space:]]*0*(-?[[:digit:]]+)[[:space:]]*", "36", "[ \"36\" ]"},
	{"0+", "36", "null"},
	{"/bin/([^/]+)", "/bin/exec", "[ \"exec\" ]"},
	{"[[:alnum:],._+:@%/-]+", "/bin/exec", "[ ]"},
	{"[[:alnum:],._+:@%/-]+", "", "null"},
	{"[[:space:]]*(-?[[:digit:]]+)[[:space:]]*", "26", "[ \"26\" ]"},
	{"0[[:digit:]]+", "26", "null"},
	{"[[:alnum:],._+:@%/-]+", "@tcl@", "[ ]"},
	{"[[:alnum:],._+:@%/-]+", "@[a-zA-Z_][0-9A-Za-z_'-]*@", "null"},
	{".*pypy.*", "/nix/store/iqlzcyc1z7nv804n9wc5k5i0l180wnbs-python3-3.12.10/bin/python3.12", "null"},
	{"(.*/)?\\.\\.(/.*)?", "package.nix", "null"},
	{"/bin/([^/]+)", "", "null"},
	{"[[:alnum:]+_?=-][[:alnum:]+._?=-]*", "meson.patch?h=mingw-w64-xorgproto&id=7b817efc3144a50e6766817c4ca7242f8ce49307", "null"},
	{"\\.*(.*)", "meson.patch?h=mingw-w64-xorgproto&id=7b817efc3144a50e6766817c4ca7242f8ce49307", "[ \"meson.patch?h=mingw-w64-xorgproto&id=7b817efc3144a50e6766817c4ca7242f8ce49307\" ]"},
	{".*-rc.*", "2.49.0", "null"},
	{"(.*)\\.git", "xmlto.git", "[ \"xmlto\" ]"},
	{"[a-f0-9]*", "0.0.29", "null"},
	{".*-polly.*", "/nix/store/21yv6cysn8axxjyh7dbsnnmbp9nprg9i-gnu-install-dirs.patch", "null"},
	{".*-polly.*", "/nix/store/96dqnv9v20fi7glzsah6qx5zypbkrwsh-llvm-lit-cfg-add-libs-to-dylib-path.patch", "null"},
	{".*-polly.*", "/nix/store/hjlgp59nhxjj2y8ghf7mmqgbirqarccy-gnu-install-dirs-polly.patch", "[ ]"},
	{".*-polly.*", "/nix/store/ybagzhw2933fvgi95qgbyw6i4avahyzr-polly-lit-cfg-add-libs-to-dylib-path.patch", "[ ]"},
	{"[[:alnum:]+_?=-][[:alnum:]+._?=-]*", "coconutbattery-4.0.2,152", "null"},
	{"\\.*(.*)", "coconutbattery-4.0.2,152", "[ \"coconutbattery-4.0.2,152\" ]"},
	{"^([[:digit:]]+)\\.([[:digit:]]+)$", "12.0", "[ \"12\" \"0\" ]"},
	{"^([[:digit:]]+)\\.([[:digit:]]+)$", "12.8", "[ \"12\" \"8\" ]"},
	{"^([[:digit:]]+)\\.([[:digit:]]+)\\.([[:digit:]]+)\\.([[:digit:]]+)$", "8.9.5.30", "[ \"8\" \"9\" \"5\" \"30\" ]"},
	{"^([[:digit:]]+)\\.([[:digit:]]+)\\.([[:digit:]]+)\\.([[:digit:]]+)$", "9.7.1.26", "[ \"9\" \"7\" \"1\" \"26\" ]"},
	{"^/.*", "8.20", "null"},
	{"^github.*", "github.com", "[ ]"},
	{"^github.*", "gitlab.inria.fr", "null"},
	{"^gitlab.*", "gitlab.inria.fr", "[ ]"},
	{"^gitlab.*", "sf.snu.ac.kr", "null"},
	{"^(@([^/]+)/)?([^/]+)$", "draupnir", "[ null null \"draupnir\" ]"},
	{"^[[:digit:]].*", "0xproto", "[ ]"},
	{"^[[:digit:]].*", "3270", "[ ]"},
	{"^[[:digit:]].*", "adwaita-mono", "null"},
	{"^[[:digit:]].*", "agave", "null"},
	{"^(@([^/]+)/)?([^/]+)$", "renderer", "[ null null \"renderer\" ]"},
	{"[^[:space:]]*", "900,906,908,1010,1012,1030", "[ ]"},
	{"[^[:space:]]*", "", "[ ]"},
	{".*[0-9]_LIN(UX)?.sh", "Wolfram_14.2.1_LIN.sh", "[ null ]"},
	{".*[0-9]_LIN(UX)?.sh", "Wolfram_14.2.1_LIN_Bndl.sh", "null"},
	{".*[0-9]_LIN(UX)?.sh", "Wolfram_14.2.0_LIN.sh", "[ null ]"},
	{".*[0-9]_LIN(UX)?.sh", "Wolfram_14.2.0_LIN_Bndl.sh", "null"},
	{"[A-Z]", "b", "null"},
	{"[A-Z]", "l", "null"},
	{"[A-Z]", "E", "[ ]"},
	{"[A-Z]", "T", "[ ]"},
	{"([0-9A-Za-z._])[0-9A-Za-z._-]*", "pythoncheck.sh", "[ \"p\" ]"},
	{"(.*)\\.git", "systemtap.git", "[ \"systemtap\" ]"},
	{"[a-f0-9]*", "release-5.2", "null"},
	{"[a-f0-9]*", "b7a857659f8485ee3c6769c27a3e74b0af910746", "[ ]"},
	{"(.*)\\.git", "gn", "null"},
	{"[a-f0-9]*", "df98b86690c83b81aedc909ded18857296406159", "[ ]"},
	{".*-rc\\..*", "22.14.0", "null"},
	{".*/linux-gecko-(.*).tar.bz2", "https://static.replay.io/downloads/linux-gecko-20220722-71c783507536-b7eae18423ef.tar.bz2", "[ \"20220722-71c783507536-b7eae18423ef\" ]"},
	{".*/linux-node-(.*)", "https://static.replay.io/downloads/linux-node-20220726-bac6d66b5ca1-5b966f2f136c", "[ \"20220726-bac6d66b5ca1-5b966f2f136c\" ]"},
	{".*-DSQLITE_ENABLE_FTS3.*", "-DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_JSON1 -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS3_TOKENIZER -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_STMT_SCANSTATUS -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_SOUNDEX -DSQLITE_SECURE_DELETE -DSQLITE_MAX_VARIABLE_NUMBER=250000 -DSQLITE_MAX_EXPR_DEPTH=10000", "[ ]"},
	{"[ \t\n]*(.*[^ \t\n])[ \t\n]*", "0.3.2308\n", "[ \"0.3.2308\" ]"},
	{"(.*)\\.git", "rtmpdump", "null"},
	{".*;.*", "Game", "null"},
	{"(.+)+(.+)", "17.0.14+7", "[ \"17.0.14+\" \"7\" ]"},
	{"^#(.*)$", "20240715", "null"},
	{"[[:alpha:]_][[:alnum:]_]*(\\.[[:alpha:]_][[:alnum:]_]*)*", "external_deps_dirs", "[ null ]"},
	{"[[:alpha:]_][[:alnum:]_]*(\\.[[:alpha:]_][[:alnum:]_]*)*", "local_cache", "[ null ]"},
	{".*-rc\\..*", "20.19.2", "null"},
	{"(.+)+(.+)", "21.0.7+6", "[ \"21.0.7+\" \"6\" ]"},
	{".*llvm-tblgen.*", "-DLLVM_INSTALL_PACKAGE_DIR:STRING=/02qcpld1y6xhs5gz9bchpxaw0xdhmsp5dv88lh25r2ss44kh8dxz/lib/cmake/llvm", "null"},
	{".*llvm-tblgen.*", "-DLLVM_ENABLE_RTTI:BOOL=TRUE", "null"},
	{".*llvm-tblgen.*", "-DLLVM_TABLEGEN:STRING=/nix/store/sclapmhdj6i9h02y7s5a630kfy55v9h1-llvm-tblgen-18.1.8/bin/llvm-tblgen", "[ ]"},
	{".*llvm-tblgen.*", "-DLLVM_TABLEGEN_EXE:STRING=/nix/store/sclapmhdj6i9h02y7s5a630kfy55v9h1-llvm-tblgen-18.1.8/bin/llvm-tblgen", "[ ]"},
	{"(.+)-b(.+)", "8u442-b06", "[ \"8u442\" \"06\" ]"},
	{"([^/]*)/([^/]*)(/SNAPSHOT)?(/.*)?", "jna/5.6.0", "[ \"jna\" \"5.6.0\" null null ]"},
	{"[0-9]+", "2", "[ ]"},
	{"[0-9]+", "3", "[ ]"},
	{"[0-9]+", "unstable", "null"},
	{"[[:space:]]*0*(-?[[:digit:]]+)[[:space:]]*", "2", "[ \"2\" ]"},
	{"0+", "2", "null"},
	{"0+", "0", "[ ]"},
	{".*org/eclipse/jdt/ecj.*", "https://repo.maven.apache.org/maven2/org/eclipse/jdt/ecj/maven-metadata.xml", "[ ]"},
	{".*[<>\"'&].*", "org.eclipse.jdt", "null"},
	{".*[<>\"'&].*", "20241203050026", "null"},
	{"[a-zA-Z_][a-zA-Z0-9_'-]*", "cpu", "[ ]"},
	{"[a-zA-Z_][a-zA-Z0-9_'-]*", "bits", "[ ]"},
	{"armv[67]l-linux", "x86_64-linux", "null"},
	{"[0-9]+", "rc", "null"},
	{".*tensorflow_cpu.*", "https://storage.googleapis.com/tensorflow/versions/2.19.0/tensorflow_cpu-2.19.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "[ ]"},
	{"git\\+([^?]+)(\\?(rev|tag|branch)=(.*))?#(.*)", "git+https://github.com/GRA0007/google-cloud-rs.git#4a2db92efd57a896e14d18877458c6ae43418aec", "[ \"https://github.com/GRA0007/google-cloud-rs.git\" null null null \"4a2db92efd57a896e14d18877458c6ae43418aec\" ]"},
	{"mpv[-_](.*)", "detect-image", "null"},
	{".*org/bouncycastle/bcutil-lts8on.*", "https://plugins.gradle.org/m2/org/bouncycastle/bcutil-lts8on/maven-metadata.xml", "[ ]"},
	{"^.*-unstable-([[:digit:]]{4})-([[:digit:]]{2})-([[:digit:]]{2})$", "0.9.0", "null"},
	{"(.+)/(.+)", "rejeep/ansi.el", "[ \"rejeep\" \"ansi.el\" ]"},
	{"^.*-unstable-([[:digit:]]{4})-([[:digit:]]{2})-([[:digit:]]{2})$", "20230306.1823", "null"},
	{"(.+)/(.+)", "rejeep/commander.el", "[ \"rejeep\" \"commander.el\" ]"},
	{"mpv[-_](.*)", "equalizer", "null"},
	{"(.*)-([^-]*)-([^-]*)", "2.2.4-20231021.200112-6", "[ \"2.2.4\" \"20231021.200112\" \"6\" ]"},
	{".*com/badlogicgames/gdx-controllers/gdx-controllers-core.*", "https://oss.sonatype.org/content/repositories/snapshots/com/badlogicgames/gdx-controllers/gdx-controllers-core/2.2.4-SNAPSHOT/maven-metadata.xml", "[ ]"},
	{".*com/badlogicgames/gdx-controllers/gdx-controllers-desktop.*", "https://oss.sonatype.org/content/repositories/snapshots/com/badlogicgames/gdx-controllers/gdx-controllers-desktop/2.2.4-SNAPSHOT/maven-metadata.xml", "[ ]"},
	{"^(#.*|$)", ".git", "null"},
	{"^(#.*|$)", "__pycache__", "null"},
	{"^(#.*|$)", "", "[ \"\" ]"},
	{"^(!?)(.*)", ".git", "[ \"\" \".git\" ]"},
	{"^(/?)(.*)", "\\.git", "[ \"\" \"\\\\.git\" ]"},
	{".+/.+", "\\.git", "null"},
	{"^(.*)/$", "(^|.*/)\\.git", "null"},
	{"(^|.*/)\\.git", ".flake8", "null"},
	{"^(!?)(.*)", "__pycache__", "[ \"\" \"__pycache__\" ]"},
	{"^(/?)(.*)", "__pycache__", "[ \"\" \"__pycache__\" ]"},
	{".+/.+", "__pycache__", "null"},
	{"^(.*)/$", "(^|.*/)__pycache__", "null"},
	{"(^|.*/)__pycache__", ".flake8", "null"},
	{"(^|.*/)\\.git", ".gitignore", "null"},
	{"(^|.*/)__pycache__", ".gitignore", "null"},
	{"^[a-fA-F0-9]{40}$", "3a667bdb3d7f0955a5a51c8468eac83210c1439e", "[ ]"},
	{".*com/android/tools/build/gradle.*", "https://repo.maven.apache.org/maven2/com/android/tools/build/gradle/maven-metadata.xml", "[ ]"},
	{"^[a-fA-F0-9]{40}$", "dc0a228a5544988d4a920cfb40be9cd28db41423", "[ ]"},
	{".*com/tobiasdiez/easybind.*", "https://oss.sonatype.org/content/groups/public/com/tobiasdiez/easybind/2.2.1-SNAPSHOT/maven-metadata.xml", "[ ]"},
	{".*org/hamcrest/hamcrest.*", "https://repo.maven.apache.org/maven2/org/hamcrest/hamcrest/maven-metadata.xml", "[ ]"},
	{"^.*CONFIG_BOARD_DIRECTORY=\"([a-zA-Z0-9_]+)\".*$", "# CONFIG_LOW_LEVEL_OPTIONS is not set\n# CONFIG_MACH_AVR is not set\n# CONFIG_MACH_ATSAM is not set\n# CONFIG_MACH_ATSAMD is not set\n# CONFIG_MACH_LPC176X is not set\n# CONFIG_MACH_STM32 is not set\n# CONFIG_MACH_HC32F460 is not set\n# CONFIG_MACH_RPXXXX is not set\n# CONFIG_MACH_PRU is not set\n# CONFIG_MACH_AR100 is not set\n# CONFIG_MACH_LINUX is not set\nCONFIG_MACH_SIMU=y\nCONFIG_BOARD_DIRECTORY=\"simulator\"\nCONFIG_CLOCK_FREQ=20000000\nCONFIG_SERIAL=y\nCONFIG_SIMULATOR_SELECT=y\nCONFIG_SERIAL_BAUD=250000\nCONFIG_USB_VENDOR_ID=0x1d50\nCONFIG_USB_DEVICE_ID=0x614e\nCONFIG_USB_SERIAL_NUMBER=\"12345\"\nCONFIG_WANT_ADC=y\nCONFIG_WANT_SPI=y\nCONFIG_WANT_SOFTWARE_SPI=y\nCONFIG_WANT_HARD_PWM=y\nCONFIG_WANT_BUTTONS=y\nCONFIG_WANT_TMCUART=y\nCONFIG_WANT_NEOPIXEL=y\nCONFIG_WANT_PULSE_COUNTER=y\nCONFIG_WANT_ST7920=y\nCONFIG_WANT_HD44780=y\nCONFIG_WANT_ADXL345=y\nCONFIG_WANT_LIS2DW=y\nCONFIG_WANT_THERMOCOUPLE=y\nCONFIG_WANT_HX71X=y\nCONFIG_WANT_ADS1220=y\nCONFIG_WANT_SENSOR_ANGLE=y\nCONFIG_NEED_SENSOR_BULK=y\nCONFIG_CANBUS_FREQUENCY=1000000\nCONFIG_INLINE_STEPPER_HACK=y\nCONFIG_HAVE_GPIO=y\nCONFIG_HAVE_GPIO_ADC=y\nCONFIG_HAVE_GPIO_SPI=y\nCONFIG_HAVE_GPIO_HARD_PWM=y\n", "[ \"simulator\" ]"},
	{"[^.]*[.][^.]*-.*", "5.15.183-rt85", "null"},
	{"[^.]*[.][^.]*-.*", "6.1.134-rt51", "null"},
	{"^\\.sw[a-z]$", "package.nix", "null"},
	{"^\\..*\\.sw[a-z]$", "package.nix", "null"},
	{"^\\.sw[a-z]$", "pyproject.toml", "null"},
	{"^\\..*\\.sw[a-z]$", "pyproject.toml", "null"},
	{"mpv[-_](.*)", "mpv-notify-send", "[ \"notify-send\" ]"},
	{"mpv[-_](.*)", "mpv-playlistmanager", "[ \"playlistmanager\" ]"},
	{".*ch/qos/logback/logback-core.*", "https://repo.maven.apache.org/maven2/ch/qos/logback/logback-core/maven-metadata.xml", "[ ]"},
	{".*commons-codec/commons-codec.*", "https://repo.maven.apache.org/maven2/commons-codec/commons-codec/maven-metadata.xml", "[ ]"},
	{"/[0-9a-z]{52}", "/run/opengl-driver", "null"},
	{"/[0-9a-z]{52}", "/dev/dri", "null"},
	{"<(.*)>", "_module", "null"},
	{"<(.*)>", "args", "null"},
	{"<(.*)>", "<name>", "[ \"name\" ]"},
	{"[a-zA-Z_][a-zA-Z0-9_'-]*", "2bwm", "null"},
	{"[a-zA-Z_][a-zA-Z0-9_'-]*", "pm.max_children", "null"},
	{"(pypy|python)([[:digit:]]*)", "override", "null"},
	{"(pypy|python)([[:digit:]]*)", "overrideDerivation", "null"},
	{"(pypy|python)([[:digit:]]*)", "pypy27", "[ \"pypy\" \"27\" ]"},
	{"(pypy|python)([[:digit:]]*)", "pypy310", "[ \"pypy\" \"310\" ]"},
	{"^ref: (.*)$", "ref: refs/heads/master", "[ \"refs/heads/master\" ]"},
	{"^ref: (.*)$", "f870c6ccc8951fc48aeb293cf3e98ade6ac42668", "null"},
	{".*\\.post[0-9]+", "1.7.2", "null"},
	{".*tensorflow_cpu.*", "https://storage.googleapis.com/tensorflow/versions/2.19.0/tensorflow-2.19.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "null"},
	{".*darwin.*", "i686-cygwin", "null"},
	{".*darwin.*", "x86_64-cygwin", "null"},
	{".*darwin.*", "x86_64-darwin", "[ ]"},
	{".*darwin.*", "aarch64-darwin", "[ ]"},
	{".*/linux-recordreplay-(.*).tgz", "https://static.replay.io/downloads/linux-recordreplay-b7eae18423ef.tgz", "[ \"b7eae18423ef\" ]"},
	{".*-large-wordlist.*", "hunspell-dict-cs-cz-libreoffice-6.3.0.4", "null"},
	{".*-large-wordlist.*", "hunspell-dict-da-dk-2.5.189", "null"},
	{".*-large-wordlist.*", "hunspell-dict-en-au-large-wordlist-2018.04.16", "[ ]"},
	{".*-large-wordlist.*", "hunspell-dict-en-ca-large-wordlist-2018.04.16", "[ ]"},
	{".*com/fazecast/jSerialComm.*", "https://oss.sonatype.org/content/repositories/snapshots/com/fazecast/jSerialComm/2.11.1-SNAPSHOT/maven-metadata.xml", "[ ]"},
	{".*net/java/dev/jna/jna-platform.*", "https://oss.sonatype.org/content/repositories/snapshots/net/java/dev/jna/jna-platform/5.1.1-SNAPSHOT/maven-metadata.xml", "[ ]"},
	{".*net/java/dev/jna/jna-platform.*", "https://oss.sonatype.org/content/repositories/snapshots/net/java/dev/jna/jna-platform/maven-metadata.xml", "[ ]"},
	{".*net/java/dev/jna/jna.*", "https://oss.sonatype.org/content/repositories/snapshots/net/java/dev/jna/jna/5.1.1-SNAPSHOT/maven-metadata.xml", "[ ]"},
	{".*net/java/dev/jna/jna.*", "https://oss.sonatype.org/content/repositories/snapshots/net/java/dev/jna/jna/maven-metadata.xml", "[ ]"},
	{".*org/java-websocket/Java-WebSocket.*", "https://oss.sonatype.org/content/repositories/snapshots/org/java-websocket/Java-WebSocket/1.3.10-SNAPSHOT/maven-metadata.xml", "[ ]"},
	{".*org/java-websocket/Java-WebSocket.*", "https://oss.sonatype.org/content/repositories/snapshots/org/java-websocket/Java-WebSocket/maven-metadata.xml", "[ ]"},
	{".*com/melloware/jintellitype.*", "https://repo.maven.apache.org/maven2/com/melloware/jintellitype/maven-metadata.xml", "[ ]"},
	{"[0-9.]*([a-z]*)", "2025.1.1", "[ \"\" ]"},
	{".*com/velocitypowered/velocity-brigadier.*", "https://repo.papermc.io/repository/maven-public/com/velocitypowered/velocity-brigadier/1.0.0-SNAPSHOT/maven-metadata.xml", "[ ]"},
}

func TestMatch(t *testing.T) {
	for _, tests := range [][]struct{ re, s, want string }{matchTests, matchSuite2} {
		for _, tt := range tests {
			re, err := Compile(tt.re)
			if err != nil {
				t.Errorf("Compile(%q): %v", tt.re, err)
				continue
			}
			if got := renderMatch(re, tt.s); got != tt.want {
				t.Errorf("match %q %q = %s, want %s", tt.re, tt.s, got, tt.want)
			}
		}
	}
}

var splitTests = []struct {
	re, s, want string
}{
	// suite: eval-okay-regex-split
	{"foobar", "foobar", `[ "" [ ] "" ]`},
	{"fo*", "f", `[ "" [ ] "" ]`},
	{"fo+", "f", `[ "f" ]`},
	{"fo*", "fo", `[ "" [ ] "" ]`},
	{"fo*", "foo", `[ "" [ ] "" ]`},
	{"fo+", "foo", `[ "" [ ] "" ]`},
	{"fo{1,2}", "foo", `[ "" [ ] "" ]`},
	{"fo{1,2}", "fooo", `[ "" [ ] "o" ]`},
	{"fo*", "foobar", `[ "" [ ] "bar" ]`},
	{"(fo*)", "f", `[ "" [ "f" ] "" ]`},
	{"(fo+)", "f", `[ "f" ]`},
	{"(fo*)", "fo", `[ "" [ "fo" ] "" ]`},
	{"(f)(o*)", "f", `[ "" [ "f" "" ] "" ]`},
	{"(f)(o*)", "foo", `[ "" [ "f" "oo" ] "" ]`},
	{"(fo+)", "foo", `[ "" [ "foo" ] "" ]`},
	{"(fo{1,2})", "foo", `[ "" [ "foo" ] "" ]`},
	{"(fo{1,2})", "fooo", `[ "" [ "foo" ] "o" ]`},
	{"(fo*)", "foobar", `[ "" [ "foo" ] "bar" ]`},
	{"(o+)", "oooofoooo", `[ "" [ "oooo" ] "f" [ "oooo" ] "" ]`},
	{"(b)", "foobarbaz", `[ "foo" [ "b" ] "ar" [ "b" ] "az" ]`},
	{"[[:space:]]+|([',.!?])", "Nix Rocks!\nThat's why I use it.\n",
		`[ "Nix" [ null ] "Rocks" [ "!" ] "" [ null ] "That" [ "'" ] "s" [ null ] "why" [ null ] "I" [ null ] "use" [ null ] "it" [ "." ] "" [ null ] "" ]`},
	{"(a)b", "abc", `[ "" [ "a" ] "c" ]`},
	{"([ac])", "abc", `[ "" [ "a" ] "b" [ "c" ] "" ]`},
	{"(a)|(c)", "abc", `[ "" [ "a" null ] "b" [ null "c" ] "" ]`},
	{"([[:upper:]]+)", "  FOO   ", `[ "  " [ "FOO" ] "   " ]`},
	// std::regex_iterator and libstdc++ quirks, checked against libstdc++ 12
	{"a?(ab)?", "ab", `[ "" [ null ] "" [ null ] "b" [ null ] "" ]`},
	{"", "ab", `[ "" [ ] "a" [ ] "b" [ ] "" ]`},
	{"", "", `[ "" [ ] "" ]`},
	{"x*", "axxb", `[ "" [ ] "a" [ ] "" [ ] "b" [ ] "" ]`},
	{"^a", "aaa", `[ "" [ ] "aa" ]`},
	{"^", "ab", `[ "" [ ] "ab" ]`},
	{"$", "ab", `[ "ab" [ ] "" ]`},
	{"^|a", "aa", `[ "" [ ] "" [ ] "" ]`},
	{"b*|a", "ab", `[ "" [ ] "" [ ] "" [ ] "" ]`},
	{"a|ab", "abab", `[ "" [ ] "" [ ] "" ]`},
	{",", "a,b,,c", `[ "a" [ ] "b" [ ] "" [ ] "c" ]`},
	{"/", "/nix/store", `[ "" [ ] "nix" [ ] "store" ]`},
	{"q", "abc", `[ "abc" ]`},
}

func TestSplit(t *testing.T) {
	for _, tt := range splitTests {
		re, err := Compile(tt.re)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.re, err)
			continue
		}
		if got := renderSplit(re, tt.s); got != tt.want {
			t.Errorf("split %q %q = %s, want %s", tt.re, tt.s, got, tt.want)
		}
	}
}

var errorTests = []struct{ re, want string }{
	// suite: eval-fail-match-3, eval-fail-split-3
	{"(.*", "invalid regular expression '(.*'"},
	{"f(o*o", "invalid regular expression 'f(o*o'"},
	// more, checked against Nix 2.8
	{`\d`, `invalid regular expression '\d'`},
	{`\n`, `invalid regular expression '\n'`},
	{`a\`, `invalid regular expression 'a\'`},
	{`\]`, `invalid regular expression '\]'`},
	{"*a", "invalid regular expression '*a'"},
	{"a|*", "invalid regular expression 'a|*'"},
	{"^*", "invalid regular expression '^*'"},
	{"a)", "invalid regular expression 'a)'"},
	{"{", "invalid regular expression '{'"},
	{"a{", "invalid regular expression 'a{'"},
	{"a{1", "invalid regular expression 'a{1'"},
	{"a{,2}", "invalid regular expression 'a{,2}'"},
	{"a{2,1}", "invalid regular expression 'a{2,1}'"},
	{"a{1a}", "invalid regular expression 'a{1a}'"},
	{"[a", "invalid regular expression '[a'"},
	{"[]", "invalid regular expression '[]'"},
	{"[b-a]", "invalid regular expression '[b-a]'"},
	{"[a-\xff]", "invalid regular expression '[a-\xff]'"},
	{"[a-z-0]", "invalid regular expression '[a-z-0]'"},
	{"[[:alpha:]-z]", "invalid regular expression '[[:alpha:]-z]'"},
	{"[[:foo:]]", "invalid regular expression '[[:foo:]]'"},
	{"[[:alpha]", "invalid regular expression '[[:alpha]'"},
	{"[[.0.]]", "invalid regular expression '[[.0.]]'"},
	{"[[=foo=]]", "invalid regular expression '[[=foo=]]'"},
	{"a{100000}", "memory limit exceeded by regular expression 'a{100000}'"},
	{"(a{1000}){100}", "memory limit exceeded by regular expression '(a{1000}){100}'"},
	{"a{100000}\\", "invalid regular expression 'a{100000}\\'"},
}

func TestErrors(t *testing.T) {
	for _, tt := range errorTests {
		_, err := Compile(tt.re)
		if err == nil {
			t.Errorf("Compile(%q) succeeded, want %q", tt.re, tt.want)
		} else if err.Error() != tt.want {
			t.Errorf("Compile(%q) = %q, want %q", tt.re, err, tt.want)
		}
	}
}

func TestCache(t *testing.T) {
	var c Cache
	a, err := c.Compile("a+")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Compile("a+"); b != a {
		t.Error("second Compile returned a different *Regexp")
	}
	if _, err := c.Compile("("); err == nil {
		t.Error("Compile(\"(\") succeeded")
	}
	if _, err := c.Compile("("); err == nil {
		t.Error("cached Compile(\"(\") succeeded")
	}
}

// oracleFormat renders results in the format of testdata/oracle.cc.
func oracleFormat(re *Regexp, mode, s string) string {
	text := func(x string) string { return ` "` + hex.EncodeToString([]byte(x)) + `"` }
	groups := func(gs []Group) string {
		var b strings.Builder
		b.WriteString(" [")
		for _, g := range gs {
			if g.Matched() {
				b.WriteString(text(s[g.Start:g.End]))
			} else {
				b.WriteString(" null")
			}
		}
		return b.String() + " ]"
	}
	if mode == "m" {
		gs, ok := re.Match(s)
		if !ok {
			return "null"
		}
		return strings.TrimPrefix(groups(gs), " ")
	}
	var b strings.Builder
	b.WriteString("[")
	for _, p := range re.Split(s) {
		if p.IsMatch {
			b.WriteString(groups(p.Groups))
		} else {
			b.WriteString(text(p.Text))
		}
	}
	return b.String() + " ]"
}

func randomPattern(r *rand.Rand) string {
	atoms := []string{"a", "b", "a", "b", ".", "[ab]", "[^a]", "()", "[[:alpha:]]", `\.`, "-", "[a-]", "^", "$",
		"1", "[[:digit:]]+", "[^[:space:]]", "[0-9a]", "\xc3", "[\x80-\xff]", " "}
	quants := []string{"*", "+", "?", "{0,2}", "{1}", "{2,}", "{0}", "{1,3}"}
	var b strings.Builder
	depth := 0
	for n := r.IntN(9) + 1; n > 0; n-- {
		switch k := r.IntN(10); {
		case k < 5:
			b.WriteString(atoms[r.IntN(len(atoms))])
		case k < 7 && b.Len() > 0:
			b.WriteString(quants[r.IntN(len(quants))])
		case k == 7:
			b.WriteString("(")
			depth++
		case k == 8 && depth > 0:
			b.WriteString(")")
			depth--
		default:
			b.WriteString("|")
		}
	}
	for ; depth > 0; depth-- {
		if r.IntN(8) != 0 { // occasionally leave a parenthesis open
			b.WriteString(")")
		}
	}
	return b.String()
}

// TestAgainstLibstdcxx compares random patterns with libstdc++'s std::regex,
// built from testdata/oracle.cc.
func TestAgainstLibstdcxx(t *testing.T) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("g++ not found")
		}
		t.Skip("SKIP: g++ not found; libstdc++ differential test not run")
	}
	if testing.Short() {
		t.Skip("SKIP: -short; libstdc++ differential test not run")
	}
	bin := filepath.Join(t.TempDir(), "oracle")
	if out, err := exec.Command(gxx, "-std=c++17", "-O1", "-o", bin, "testdata/oracle.cc").CombinedOutput(); err != nil {
		t.Fatalf("building oracle: %v\n%s", err, out)
	}
	type tcase struct{ mode, re, s string }
	var cases []tcase
	for _, tt := range matchTests {
		cases = append(cases, tcase{"m", tt.re, tt.s}, tcase{"s", tt.re, tt.s})
	}
	for _, tt := range splitTests {
		cases = append(cases, tcase{"m", tt.re, tt.s}, tcase{"s", tt.re, tt.s})
	}
	for _, tt := range errorTests {
		cases = append(cases, tcase{"m", tt.re, ""})
	}
	r := rand.New(rand.NewPCG(7, 11))
	subjects := "ab.-ab1 \xc3"
	for i := 0; i < 3000; i++ {
		re := randomPattern(r)
		for j := 0; j < 3; j++ {
			var s strings.Builder
			for n := r.IntN(7); n > 0; n-- {
				s.WriteByte(subjects[r.IntN(len(subjects))])
			}
			cases = append(cases, tcase{"m", re, s.String()}, tcase{"s", re, s.String()})
		}
	}
	var in strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&in, "%s\t%x\t%x\n", c.mode, c.re, c.s)
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	failures := 0
	for _, c := range cases {
		if !sc.Scan() {
			t.Fatal("oracle output too short")
		}
		want := sc.Text()
		var got string
		re, err := Compile(c.re)
		switch {
		case err != nil && err.(*Error).Space:
			got = "error space"
		case err != nil:
			got = "error"
		default:
			got = oracleFormat(re, c.mode, c.s)
		}
		if got != want {
			failures++
			if failures <= 20 {
				t.Errorf("%s %q %q:\n got %s\nwant %s", c.mode, c.re, c.s, got, want)
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d cases differ", failures, len(cases))
	}
}
