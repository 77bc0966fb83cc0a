#!@shell@
# hello: print a greeting (cairn's example package).
greeting="Hello, world!"
while [ $# -gt 0 ]; do
	case $1 in
	-g | --greeting)
		shift
		greeting=$1
		;;
	-v | --version)
		echo "hello @version@"
		exit 0
		;;
	-h | --help)
		echo "usage: hello [-g GREETING] [-v]"
		exit 0
		;;
	*)
		echo "hello: unknown argument '$1'" >&2
		exit 2
		;;
	esac
	shift
done
echo "$greeting"
