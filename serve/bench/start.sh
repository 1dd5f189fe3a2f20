# Sourced by the bench scripts: start_server BIN CONFIG DIR starts a server
# in the background (its pid in $pid, stopped by the caller's trap) and
# sets $thrift and $http from the line it prints (waiting at most 10 s).
start_server() {
  "$1" "$2" >"$3/out.txt" 2>"$3/log.txt" &
  pid=$!
  for _ in $(seq 100); do grep -q "http on" "$3/out.txt" 2>/dev/null && break; sleep 0.1; done
  local line
  line=$(head -1 "$3/out.txt")
  thrift=$(echo "$line" | sed 's/.*thrift on \([^,]*\),.*/\1/')
  http=$(echo "$line" | sed 's/.*http on \([^,]*\).*/\1/')
}
