# Shared by the bench scripts: `source "$(dirname "$0")/lib.sh"`.

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_target_fixture PORT TARGETS HANG LOG: serves /t/0 … /t/TARGETS-1 (examples/serve_fixture.rs,
# built already), the last HANG of which never answer, in the background; returns once it answers.
start_target_fixture() {
  target/release/examples/serve_fixture --port "$1" --targets "$2" --hang "$3" 2>"$4" &
  until curl -sf -o /dev/null "http://127.0.0.1:$1/t/0"; do sleep 0.2; done
}

# fixture_targets PORT TARGETS: the fixture's targets as a TOML array body.
fixture_targets() { seq 0 $(($2 - 1)) | sed "s|.*|\"http://127.0.0.1:$1/t/&\"|" | paste -sd, -; }
