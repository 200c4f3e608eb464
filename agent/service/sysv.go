package service

import "strings"

// sysvScript is the init script for machines without systemd. It differs from
// kardianos/service's own in ways the agent needs: arguments are passed as separate,
// quoted words (the built-in script splits a config path that holds a space), the
// script is named for the service in its LSB header, it waits for the network, and the
// status action exits 3 when the service is stopped, as LSB asks. @NAME@ is replaced by
// the service's name; the {{…}} parts are filled by kardianos/service.
const sysvScript = `#!/bin/sh
# chkconfig: 2345 99 01
# description: {{Description}}
### BEGIN INIT INFO
# Provides:          @NAME@
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{DisplayName}}
# Description:       {{Description}}
### END INIT INFO

name=@NAME@
pid_file="/var/run/$name.pid"
stdout_log="{{LogDirectory}}/$name.log"
stderr_log="{{LogDirectory}}/$name.err"

{{range EnvVars}}{{.}}
{{end}}
[ -e /etc/sysconfig/$name ] && . /etc/sysconfig/$name
[ -e /etc/default/$name ] && . /etc/default/$name

run_agent() {
{{if WorkingDirectory}}    cd {{WorkingDirectory | cmd}} || exit 1
{{end}}    exec {{Path | cmd}}{{range Arguments}} {{. | cmd}}{{end}}
}

is_running() {
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

case "$1" in
    start)
        if is_running; then
            echo "Already running"
            exit 0
        fi
        echo "Starting $name"
        run_agent >> "$stdout_log" 2>> "$stderr_log" &
        echo $! > "$pid_file"
        # A config error ends the agent at once; say so here rather than later.
        sleep 1
        if ! is_running; then
            echo "Unable to start, see $stderr_log"
            rm -f "$pid_file"
            exit 1
        fi
    ;;
    stop)
        if ! is_running; then
            echo "Not running"
            rm -f "$pid_file"
            exit 0
        fi
        printf "Stopping %s.." "$name"
        kill "$(cat "$pid_file")"
        for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
            is_running || break
            printf "."
            sleep 1
        done
        echo
        if is_running; then
            echo "Not stopped; may still be shutting down"
            exit 1
        fi
        echo "Stopped"
        rm -f "$pid_file"
    ;;
    restart|force-reload)
        "$0" stop && "$0" start
    ;;
    status)
        if is_running; then
            echo "Running"
        else
            echo "Stopped"
            exit 3
        fi
    ;;
    *)
        echo "Usage: $0 {start|stop|restart|status}"
        exit 1
    ;;
esac
exit 0
`

func sysvScriptFor(name string) string {
	return strings.ReplaceAll(sysvScript, "@NAME@", name)
}
