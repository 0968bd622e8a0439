# Sourced by the benchmark scripts: `start_nginx WORK PORT [CORE]` serves "ok" on
# 127.0.0.1:PORT from one nginx worker pinned to CORE (default 0), its pid in WORK/nginx.pid.
start_nginx() {
  local work=$1 port=$2 core=${3:-0}
  cat > "$work/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $work/nginx.pidfile; error_log $work/error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 75s;
  server { listen 127.0.0.1:$port; location / { return 200 "ok"; } } }
CONF
  taskset -c "$core" nginx -c "$work/nginx.conf" -p "$work" & echo $! > "$work/nginx.pid"
}
