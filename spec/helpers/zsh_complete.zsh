# What zsh's completion system offers for a command line, one word a line:
#   zsh -f spec/helpers/zsh_complete.zsh 'kadoa page --format '
# Run from the repository root. zsh completes only inside an interactive
# line editor, so one is started on a pseudo-terminal (zpty) with
# completions/ first on fpath, the line is typed with a Tab, and every
# word handed to compadd is echoed with a marker (written KD""HIT in its
# definition, so the terminal's echo of that line never shows it).
zmodload zsh/zpty
zpty kd zsh -f -i
zpty -w kd "PROMPT=''; fpath=($PWD/completions \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w kd 'compadd() { builtin compadd -O __hits "$@"; print -rl -- "" ${^__hits}:KD""HIT; builtin compadd "$@"; }'
zpty -w kd 'bindkey "^I" complete-word'
zpty -n -w kd "$1"$'\t'
# A loaded machine may take seconds to run compinit: read until the first
# word comes (up to 15 s), then a little longer for the rest.
out=''
for i in {1..150}; do
  while zpty -r -t kd line; do out+=$line; done
  [[ $out == *:KDHIT* ]] && break
  sleep 0.1
done
sleep 0.3
while zpty -r -t kd line; do out+=$line; done
zpty -d kd
print -r -- "$out" | tr -d '\r' | grep -v '\$' | grep -o '[^ ]*:KDHIT' | sed 's/:KDHIT$//' | sort -u
