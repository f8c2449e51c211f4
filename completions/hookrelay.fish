# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_hookrelay_global_optspecs
    string join \n h/help V/version
end

function __fish_hookrelay_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_hookrelay_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_hookrelay_using_subcommand
    set -l cmd (__fish_hookrelay_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c hookrelay -n "__fish_hookrelay_needs_command" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -s V -l version -d 'Print version'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "serve" -d 'Receive webhooks on POST /webhook, validate and keep them'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "send" -d 'Deliver one event to a URL, with retries'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "validate" -d 'Check payload files against the event model'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, powershell, elvish)'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "sign" -d 'Print Standard Webhooks signature headers for a body'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "verify" -d 'Verify a Standard Webhooks signature of a body'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "secret" -d 'Make signing secrets and admin tokens'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "schema" -d 'Print the JSON Schema (2020-12) of an event'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "man" -d 'Write man pages (hookrelay.1, hookrelay-serve.1, …) into DIR'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l host -d 'Address to listen on' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l port -d 'Port to listen on; 0 picks a free one (the first line printed tells which)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l workers -d 'Worker threads of the runtime [default: the number of CPUs]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-body-bytes -d 'Largest accepted body (413 beyond it), e.g. 1048576, 64KiB, 1MiB' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-events -d 'Events kept; the oldest is evicted beyond it' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l verify -d 'Require signed webhooks (401 otherwise): standard or github' -r -f -a "standard\t'Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature'
github\t'GitHub: X-Hub-Signature-256'"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l secret -d 'Signing secret: whsec_<base64>, or GitHub\'s as written (repeatable, for key rotation)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l secret-file -d 'Read secrets from a file, one per line' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l verify-tolerance -d 'How far webhook-timestamp may be from now, or \'off\'' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store -d 'Where events and deliveries live: memory (lost on exit), sqlite:PATH (durable) or postgres://USER@HOST:PORT/DB (durable, shared by several instances)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l sync -d 'With sqlite: full survives a power loss, normal survives a crash of the process' -r -f -a "full\t'fsync every commit: survives a power loss'
normal\t'fsync at checkpoints: survives a crash of the process'"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l retention -d 'With sqlite or postgres: drop events older than this, e.g. 7d' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store-poll -d 'With postgres: how often idle workers look for due deliveries that no notification announced (retries come due, or work queued while the listening connection was down)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store-lease -d 'With postgres: how long a claimed delivery is its instance\'s; past it (the instance died mid-attempt) any instance makes the attempt again. Keep it above --forward-timeout' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store-connect-timeout -d 'With postgres: how long to wait at start for a database that is not up yet (nothing listening, or still starting); a wrong password or a missing database exits at once' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store-pool-size -d 'With postgres: connections to the database, shared by requests (half of them commit inserts) and delivery workers' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l header-timeout -d 'Time a client has to send a request\'s headers (from connecting, or its first byte)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l body-timeout -d 'Time a client has to send a request\'s whole body (408 beyond it)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l idle-timeout -d 'Time a kept-alive connection may wait for its next request before it is closed' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-inflight -d 'Requests handled at once; beyond it the answer is 503 with Retry-After at once' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l tls-cert -d 'Serve https with this PEM certificate chain (with --tls-key); SIGHUP reloads it' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l tls-key -d 'The PEM private key of --tls-cert' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l admin-token -d 'Require Authorization: Bearer TOKEN on every admin endpoint (repeatable, for rotation; make one with `hookrelay secret new --admin`)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l admin-token-file -d 'Read admin tokens from a file, one a line' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l admin-listen -d 'Serve the admin endpoints on this address only; the main one keeps POST /webhook and GET /healthz' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l log-format -d 'Log lines on stderr as text or as one JSON object per line' -r -f -a "text\t''
json\t''"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-to -d 'Relay every accepted event to URL (repeatable; comma-separated in the env var)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l route -d 'Relay events whose event_type matches GLOB to URL, e.g. \'order.*=http://host/hook\'' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-header -d 'Extra header on forwarded requests, \'Name: value\' (repeatable; one a line in the env var)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-secret -d 'Sign forwarded deliveries with this whsec_ secret (Standard Webhooks; repeatable)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-cacert -d 'Also trust the CA certificates in this PEM file for https targets' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l retry-schedule -d 'Waits between attempts of a delivery; after the last, it is dead' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-timeout -d 'Time allowed for each forwarded attempt' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-pending -d 'Open deliveries allowed; beyond it POST /webhook answers 503 with Retry-After' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-concurrency -d 'Attempts in flight per target' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-threads -d 'Threads that deliver, apart from the --workers that serve requests' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l shutdown-grace -d 'On SIGTERM, time given to attempts in flight before exiting' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l keep-secret-headers -d 'Keep the values of Authorization, Cookie and Proxy-Authorization in the stored headers (redacted by default)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l admin-open -d 'Serve the admin endpoints without a token on an address that is not loopback'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l metrics-public -d 'Leave GET /metrics open without the admin token, for scrapers'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l to -d 'Where to POST the event: an http:// or https:// URL' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l event-id -d 'event_id of the event (required unless --file gives one)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l event-type -d 'event_type of the event [default: alert]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l description -d 'description of the event [default: empty]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l timestamp -d 'timestamp of the event, ISO 8601 [default: now, in UTC; give one to repeat a send]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -s f -l file -d 'Read the payload from a file (- for stdin); the flags above override its fields' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -s H -l header -d 'Extra request header, repeatable' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l timeout -d 'Time allowed for each attempt' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l connect-timeout -d 'Time allowed for connecting, within --timeout' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l retries -d 'Retries after the first attempt' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l retry-backoff -d 'Wait before the first retry; doubled for each next one' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l secret-file -d 'Read secrets from a file, one per line' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l id -d 'webhook-id, the same on every attempt [default with a secret: evt_<event_id>]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l cacert -d 'Also trust the CA certificates in this PEM file for https (the public roots stay)' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l secret -d 'Signing secret: whsec_ followed by base64 (repeatable, for key rotation)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l json -d 'Print one JSON result object on stdout instead of the response body'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l dry-run -d 'Print the request that would be sent, and send nothing'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l no-proxy -d 'Connect straight to --to, ignoring HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand validate" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand validate" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand completions" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand sign" -l secret-file -d 'Read secrets from a file, one per line' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand sign" -l id -d 'webhook-id [default: evt_<event_id> of the body]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand sign" -l timestamp -d 'webhook-timestamp, unix seconds [default: now]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand sign" -l secret -d 'Signing secret: whsec_ followed by base64 (repeatable, for key rotation)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand sign" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand verify" -l secret-file -d 'Read secrets from a file, one per line' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand verify" -l id -d 'The webhook-id header' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand verify" -l timestamp -d 'The webhook-timestamp header (unix seconds)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand verify" -l signature -d 'The webhook-signature header (space-separated v1,<base64> entries)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand verify" -l tolerance -d 'Largest distance of the timestamp from now, or \'off\'' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand verify" -l secret -d 'Signing secret: whsec_ followed by base64 (repeatable, for key rotation)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand verify" -l explain -d 'Show the signed content\'s length, the expected and received signatures, and the check'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand verify" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand secret; and not __fish_seen_subcommand_from new help" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand secret; and not __fish_seen_subcommand_from new help" -f -a "new" -d 'Print a new whsec_ secret of 32 random bytes from the operating system'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand secret; and not __fish_seen_subcommand_from new help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand secret; and __fish_seen_subcommand_from new" -l admin -d 'Print an admin token for `serve --admin-token` instead: hra_ and 32 random bytes as URL-safe base64'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand secret; and __fish_seen_subcommand_from new" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "new" -d 'Print a new whsec_ secret of 32 random bytes from the operating system'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand schema" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand man" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "serve" -d 'Receive webhooks on POST /webhook, validate and keep them'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "send" -d 'Deliver one event to a URL, with retries'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "validate" -d 'Check payload files against the event model'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, powershell, elvish)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "sign" -d 'Print Standard Webhooks signature headers for a body'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "verify" -d 'Verify a Standard Webhooks signature of a body'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "secret" -d 'Make signing secrets and admin tokens'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "schema" -d 'Print the JSON Schema (2020-12) of an event'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "man" -d 'Write man pages (hookrelay.1, hookrelay-serve.1, …) into DIR'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send validate completions sign verify secret schema man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from secret" -f -a "new" -d 'Print a new whsec_ secret of 32 random bytes from the operating system'
