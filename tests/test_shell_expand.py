"""One construct per case; every expectation is computed by running the same snippet under bash."""

from __future__ import annotations

import pytest

from helpers_shell import bash_value, static_values

# (id, snippet, variables to compare, environment, positional args)
CASES = [
    ("default-unset", 'A=${X:-d}; B=${X-d}', ["A", "B"], {}, []),
    ("default-empty", 'A=${X:-d}; B=${X-d}', ["A", "B"], {"X": ""}, []),
    ("default-set", 'A=${X:-d}', ["A"], {"X": "v"}, []),
    ("assign-default", 'A=${X:=d}; B=$X; : ${Y:=yy}; : "${Z:=z z}"', ["A", "B", "Y", "Z"], {}, []),
    ("alternate", 'A=${X:+alt}; B=${U:+alt}; C=${E+set}; D=${E:+nonempty}', ["A", "B", "C", "D"], {"X": "1", "E": ""}, []),
    ("length", 'K=hello; A=${#K}; B=${#U}', ["A", "B"], {}, []),
    ("substring", 'V=abcdefgh; A=${V:2}; B=${V:2:3}; C=${V: -3}; D=${V:1:-2}; K=ab; E=${V:${#K}+1}',
     ["A", "B", "C", "D", "E"], {}, []),
    ("strip-prefix", 'P=a/b/c.tar.gz; A=${P#*/}; B=${P##*/}; C=${P#x}', ["A", "B", "C"], {}, []),
    ("strip-suffix", 'P=a/b/c.tar.gz; A=${P%.*}; B=${P%%.*}; C=${P%/*}', ["A", "B", "C"], {}, []),
    ("replace", 'P=a-b-c; A=${P/-/_}; B=${P//-/_}; C=${P/#a/X}; D=${P/%c/Y}; E=${P//-}', ["A", "B", "C", "D", "E"], {}, []),
    ("replace-glob", 'P=model_v2_final; A=${P/_*_/-}; B=${P//[0-9]/N}', ["A", "B"], {}, []),
    ("case-mod", 'P=Hello; A=${P^^}; B=${P,,}; C=${P,}', ["A", "B", "C"], {}, []),
    ("indirect", 'N=TARGET; TARGET=found; A=${!N}', ["A"], {}, []),
    ("arith", 'A=$((3 + 4 * 2)); B=$(( (3 + 4) * 2 )); C=$((7 / 2)); D=$((-7 / 2)); E=$((-7 % 3)); F=$((2 ** 10))',
     ["A", "B", "C", "D", "E", "F"], {}, []),
    ("arith-vars", 'X=6; Y=4; A=$((X * Y)); B=$(( $X - ${Y} )); C=$(( X > Y ? X : Y )); D=$((Z + 1))',
     ["A", "B", "C", "D"], {}, []),
    ("arith-assign", 'i=1; (( i += 5 )); (( j = i * 2 )); (( k++ )); A=$i; B=$j; C=$k; let "m = 3 << 2"',
     ["A", "B", "C", "m"], {}, []),
    ("arith-recursive", 'X="2+3"; A=$((X * 2)); Y=X; B=$((Y + 1))', ["A", "B"], {}, []),
    ("arith-bases", 'A=$((0x10 + 010 + 2#101))', ["A"], {}, []),
    ("declare-int", 'declare -i N=2+3; N+=4; A=$N', ["A"], {}, []),
    ("append", 'S=a; S+=b; S+=" c"', ["S"], {}, []),
    ("array-basic", 'ARR=(a "b c" d); A=${ARR[1]}; B=${#ARR[@]}; C="${ARR[*]}"; D=${ARR}', ["A", "B", "C", "D"], {}, []),
    ("array-append", 'ARR=(a); ARR+=(b c); ARR[5]=z; A="${ARR[*]}"; B=${#ARR[@]}', ["A", "B"], {}, []),
    ("array-slice", 'ARR=(a b c d e); A="${ARR[*]:1:2}"; B="${ARR[@]: -2}"', ["A", "B"], {}, []),
    ("array-splitting", 'X="p q"; ARR=($X "r s" t); A=${#ARR[@]}; B=${ARR[1]}', ["A", "B"], {}, []),
    ("positional", 'A=$1; B=$#; C="$*"; shift; D=$1; E=$#', ["A", "B", "C", "D", "E"], {}, ["x", "y z", "w"]),
    ("set-euo-pipefail", 'set -euo pipefail; A=$#; B=$1; set +u -o nounset; C=$-', ["A", "B"], {}, ["p1", "p2"]),
    ("set-positional", 'set -- p q r; A=$2; B=$#', ["A", "B"], {}, []),
    ("kv-loop", 'for ARGUMENT in "$@"; do KEY=$(echo $ARGUMENT | cut -f1 -d=); KEY_LENGTH=${#KEY}; '
                'VALUE="${ARGUMENT:$KEY_LENGTH+1}"; export "$KEY"="$VALUE"; done',
     ["TP", "MODEL_SIZE", "EMPTY", "EQ"], {}, ["TP=2", "MODEL_SIZE=70", "EMPTY=", "EQ=a=b"]),
    ("if-elif", 'if [[ $M -eq 8 ]]; then R=small; elif [[ $M -eq 70 ]]; then R=large; else R=none; fi',
     ["R"], {"M": "70"}, []),
    ("test-bracket", 'A=no; if [ "$X" -gt 1 ] && [ -n "$Y" ]; then A=yes; fi; B=no; [ -z "$U" ] && B=empty',
     ["A", "B"], {"X": "2", "Y": "1"}, []),
    ("test-bad-int", 'A=no; if [ "$X" -eq 1 ]; then A=yes; else A=else; fi', ["A"], {"X": ""}, []),
    ("test-string-ops", 'A=no; [ "$O" == "adam" ] && A=adam; B=no; [ "$O" != "sgd" -a 1 = 1 ] && B=yes; '
                        'C=no; [ ! -n "" ] && C=neg', ["A", "B", "C"], {"O": "adam"}, []),
    ("dbracket-pattern", 'A=no; [[ $N == mix* ]] && A=glob; B=no; [[ $N == "mix*" ]] && B=literal; '
                         'C=no; [[ $N =~ ^m[a-z]+_([0-9]+) ]] && C=re', ["A", "B", "C"], {"N": "mixtral_8"}, []),
    ("dbracket-logic", 'A=no; [[ -n $X && ( $Y -lt 3 || -z $Z ) ]] && A=yes', ["A"], {"X": "1", "Y": "5"}, []),
    ("case-glob", 'case $S in 7|7B) R=seven;; 70*) R=seventy;; *) R=other;; esac', ["R"], {"S": "70B"}, []),
    ("case-fallthrough", 'R=; case a in a) R+=1 ;& b) R+=2 ;; c) R+=3;; esac', ["R"], {}, []),
    ("function-local", 'V=global; f() { local V=inner; G=$1-$2; shift; H=$1; return 3; }; f a b; S=$?; A=$V',
     ["G", "H", "S", "A"], {}, []),
    ("function-dynamic-scope", 'f() { local X=f; g; }; g() { R=$X; }; X=top; f; A=$R; B=$X', ["A", "B"], {}, []),
    ("subshell", 'A=1; (A=2; B=2); C=$(A=3; echo $A)', ["A", "B", "C"], {}, []),
    ("for-loop", 'S=; for i in 1 2 3; do S+=$i; done; T=; for ((i=0; i<4; i++)); do T+=$i; done', ["S", "T"], {}, []),
    ("while-loop", 'n=0; while [ $n -lt 5 ]; do n=$((n+1)); [ $n -eq 3 ] && continue; L+=$n; done', ["n", "L"], {}, []),
    ("until-break", 'n=0; until false; do n=$((n+1)); if [ $n -ge 4 ]; then break; fi; done', ["n"], {}, []),
    ("while-shift", 'while [ $# -gt 0 ]; do case $1 in --tp) TP=$2; shift 2;; --pp=*) PP=${1#*=}; shift;; '
                    '*) shift;; esac; done', ["TP", "PP"], {}, ["--tp", "4", "x", "--pp=2"]),
    ("and-or", 'true && A=1 || A=2; false && B=1 || B=2', ["A", "B"], {}, []),
    ("set-e-exempt", 'set -e; false || true; [ 1 = 2 ] && X=1; A=after', ["A", "X"], {}, []),
    ("set-e-exit", 'set -e; A=before; false; A=after', ["A"], {}, []),
    ("exit", 'A=1; exit 0; A=2', ["A"], {}, []),
    ("heredoc-subst", 'N=5; T=$(cat <<EOF\nlayers $N\nEOF\n); Q=$(cat <<\'EOF\'\nraw $N\nEOF\n)', ["T", "Q"], {}, []),
    ("echo-pipelines", 'A=$(echo "a,b,c" | cut -d, -f2); B=$(echo HELLO | tr A-Z a-z); '
                       'C=$(echo "x=1 y=2" | awk \'{print $2}\'); D=$(echo foo.bar | sed \'s/\\.bar$/.baz/\'); '
                       'E=$(printf "%s-%d" ab 7)', ["A", "B", "C", "D", "E"], {}, []),
    ("dirname-basename", 'A=$(dirname a/b/c.sh); B=$(basename a/b/c.sh .sh); C=$(dirname c.sh); D=`basename /x/y/`',
     ["A", "B", "C", "D"], {}, []),
    ("quoting-escapes", 'A="a \\$b \\\\ \\q"; B=\'s $x\'; C=$\'t\\tn\'; D=a\\ b', ["A", "B", "C", "D"], {}, []),
    ("multi-line-string", 'A="x \\\n  y"; B="p\nq"', ["A", "B"], {}, []),
    ("read-herestring", 'read -r X Y <<< "one two three"; IFS=, read -ra P <<< "a,b,c"; Z=${P[2]}', ["X", "Y", "Z"], {}, []),
    ("ifs-split", 'IFS=,; L="a,b,,c"; ARR=($L); A=${#ARR[@]}; unset IFS; B="${ARR[2]}"', ["A", "B"], {}, []),
    ("eval-assign", 'cmd="X=1; Y=\\"a b\\""; eval "$cmd"; K=Z; eval "$K=dyn"', ["X", "Y", "Z"], {}, []),
    ("unset", 'A=1; unset A; B=${A-gone}', ["A", "B"], {}, []),
    ("export-declare", 'export E1=1; declare -x E2=2; local_fn() { local L=1; declare D=2; }; local_fn', ["E1", "E2", "L", "D"], {}, []),
    ("nested-subst", 'A=$(echo $(echo inner)-outer); B="$(echo "q  s")"', ["A", "B"], {}, []),
]


@pytest.mark.parametrize("snippet,names,env,args", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_bash(snippet, names, env, args, tmp_path):
    expected = bash_value(snippet, names, env, args)
    assert set(expected) == set(names), "bash did not print every variable"
    assert static_values(snippet, names, tmp_path, env, args) == expected

CASES_MORE = [
    ("assoc-array", 'declare -A H=([8]=4096 [70]=8192); S=70; A=${H[$S]}; B=${H[8]}; H[13]=5120; C=${#H[@]}',
     ["A", "B", "C"], {}, []),
    ("array-index-var", 'ARR=(x y z); i=2; A=${ARR[$i]}; B=${ARR[i-1]}; ARR[$i]=w; C="${ARR[*]}"; D=$((ARR[0] + 1))',
     ["A", "B", "C", "D"], {}, []),
    ("array-keys", 'ARR=(a b c); K="${!ARR[@]}"; L=${#ARR[*]}', ["K", "L"], {}, []),
    ("local-array", 'f() { local -a L=(1 2 3); R=${#L[@]}; }; f', ["R"], {}, []),
    ("printf-v", 'printf -v X "%s-%s" a b; printf -v Y "%03d" 7', ["X", "Y"], {}, []),
    ("getopts", 'while getopts "t:p:v" opt; do case $opt in t) TP=$OPTARG;; p) PP=$OPTARG;; v) V=1;; esac; done; '
                'shift $((OPTIND-1)); REST="$*"', ["TP", "PP", "V", "REST"], {}, ["-t", "4", "-vp2", "file"]),
    ("getopts-errors", 'while getopts ":t:a" o; do S+="[$o:${OPTARG-}]"; done; I=$OPTIND', ["S", "I"], {},
     ["-a", "-z", "-at", "x", "-t"]),
    ("getopts-loud", 'while getopts "b" o; do S+="[$o:${OPTARG-none}]"; done; I=$OPTIND', ["S", "I"], {},
     ["-b", "-q", "--", "rest"]),
    ("while-read-herestring", 'while read -r k v; do S+="$k=$v;"; done <<< "$(printf "a 1\\nb 2\\nc 3")"', ["S"], {}, []),
    ("while-read-heredoc", 'N=0\nwhile read -r line; do N=$((N+1)); L=$line; done <<EOF\nx\ny z\nEOF', ["N", "L"], {}, []),
    ("bash-rematch", '[[ $V =~ ^([a-z]+)-([0-9]+)$ ]] && A=${BASH_REMATCH[1]} B=${BASH_REMATCH[2]}; C=${#BASH_REMATCH[@]}',
     ["A", "B", "C"], {"V": "llama-70"}, []),
    ("lineno-difference", 'A=$LINENO\n\nB=$((LINENO - A))', ["B"], {}, []),
    ("case-classes", 'case $X in [0-9]*) A=num;; *) A=other;; esac', ["A"], {"X": "42"}, []),
    ("default-in-arith", 'A=$(( ${N:-3} * 2 )); B=$(( N2 ))', ["A", "B"], {}, []),
    ("nested-default", 'A=${X:-${Y:-${Z:-deep}}}; B="${U:-"a b"}"', ["A", "B"], {}, []),
    ("star-vs-at", 'set -- "a b" c; A="$*"; IFS=-; B="$*"; C="${*}"; unset IFS; arr=("$@"); D=${#arr[@]}',
     ["A", "B", "C", "D"], {}, []),
    ("unquoted-at-split", 'set -- "a b" c; arr=($@); A=${#arr[@]}; arr2=("$@"); B=${#arr2[@]}', ["A", "B"], {}, []),
    ("empty-fields", 'E=; arr=($E "" "$E" x); A=${#arr[@]}', ["A"], {}, []),
    ("readonly", 'readonly R=1; declare -r Q=2', ["R", "Q"], {}, []),
    ("export-no-value", 'export LATER; LATER=5', ["LATER"], {}, []),
    ("dollar-single-quote", "A=$'a\\nb'; B=${#A}", ["B"], {}, []),
    ("backtick-nested", 'A=`echo \\`echo in\\``', ["A"], {}, []),
    ("brace-group", '{ A=1; B=2; } ; { C=3; }', ["A", "B", "C"], {}, []),
    ("break-nested", 'for i in 1 2 3; do for j in a b; do [ $i = 2 ] && break 2; R+=$i$j; done; done', ["R"], {}, []),
    ("continue-nested", 'for i in 1 2 3; do for j in a b; do [ $j = b ] && continue 2; R+=$i$j; done; R+=x; done', ["R"], {}, []),
    ("continue-while", 'n=0; while (( n < 4 )); do n=$((n+1)); (( n == 2 )) && continue; R+=$n; done', ["R"], {}, []),
    ("return-status", 'f() { return 4; }; f; A=$?; g() { false; }; g; B=$?', ["A", "B"], {}, []),
    ("arith-cmd-status", '(( 0 )); A=$?; (( 5 > 3 )); B=$?', ["A", "B"], {}, []),
    ("let-inc", 'x=1; let x++ "y=x*3"', ["x", "y"], {}, []),
    ("cut-chars", 'A=$(echo abcdef | cut -c2-4)', ["A"], {}, []),
    ("tilde", 'A=~/x; B="~/y"', ["A", "B"], {"HOME": "/home/u"}, []),
    ("heredoc-read", 'read -r A B <<EOF\n$X two\nEOF', ["A", "B"], {"X": "one"}, []),
    ("unset-in-func", 'G=1; f() { local G=2; unset G; R=${G-unset}; }; f', ["R"], {}, []),
    ("array-append-quoted", 'arr=(); arr+=("x y"); arr+=(z); A=${#arr[@]}; B=${arr[0]}', ["A", "B"], {}, []),
    ("ifs-newline", 'L="a b\nc"; for w in $L; do N=$((N+1)); done', ["N"], {}, []),
    ("pattern-anchors", 'P=/a/b/; A=${P%/}; B=${P#/}; C=${P//\\//:}', ["A", "B", "C"], {}, []),
]


@pytest.mark.parametrize("snippet,names,env,args", [c[1:] for c in CASES_MORE], ids=[c[0] for c in CASES_MORE])
def test_more_constructs_match_bash(snippet, names, env, args, tmp_path):
    expected = bash_value(snippet, names, env, args)
    assert set(expected) == set(names), "bash did not print every variable"
    assert static_values(snippet, names, tmp_path, env, args) == expected
