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
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "listen" -d 'Follow a hookrelay\'s events live, and deliver them to a local service'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "validate" -d 'Check payload files against the event model'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, powershell, elvish)'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "sign" -d 'Print Standard Webhooks signature headers for a body'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "verify" -d 'Verify a Standard Webhooks signature of a body'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "secret" -d 'Make signing secrets and admin tokens'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "schema" -d 'Print the JSON Schema (2020-12) of an event'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "samples" -d 'List or print the sample payloads of each provider'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "endpoints" -d 'Manage the endpoints of a running hookrelay (its admin API)'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "config" -d 'Check a config file of serve --config'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "man" -d 'Write man pages (hookrelay.1, hookrelay-serve.1, …) into DIR'
complete -c hookrelay -n "__fish_hookrelay_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l config -d 'Read options and endpoints from this TOML file (keys in snake_case: forward_to, max_events); flags and environment variables override it. Check one with `hookrelay config check FILE`' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l host -d 'Address to listen on' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l port -d 'Port to listen on; 0 picks a free one (the first line printed tells which)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l workers -d 'Worker threads of the runtime [default: the number of CPUs]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-body-bytes -d 'Largest accepted body (413 beyond it), e.g. 1048576, 64KiB, 1MiB' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-events -d 'Events kept; the oldest is evicted beyond it' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l verify -d 'Require signed webhooks (401 otherwise): standard or github' -r -f -a "standard\t'Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature'
github\t'GitHub: X-Hub-Signature-256'"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l secret -d 'Signing secret: whsec_<base64>, or GitHub\'s as written (repeatable, for key rotation)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l secret-file -d 'Read secrets from a file, one per line' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l verify-tolerance -d 'How far a signed timestamp (webhook-timestamp, Stripe\'s t=, Slack\'s) may be from now, or \'off\'' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l source -d 'What POST /webhook takes: event, github, stripe, standard, shopify, slack, json or schema:FILE; NAME=/webhook/PATH mounts one more on its own path (repeatable)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l source-secret -d 'The secret of a mounted source, KEY=SECRET with KEY its path (/webhook/gh), the path\'s last part (gh) or the source\'s name (github); a KEY naming two sources is refused. Repeatable, one a line in the env var. POST /webhook\'s source takes --secret' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l source-secret-file -d 'Read a mounted source\'s secrets from a file, one a line: KEY=PATH, KEY as for --source-secret (repeatable)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l id-from -d 'With json or schema:FILE: where each event\'s id is, header:NAME or a JSON Pointer such as /data/id [default: a generated id]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l type-from -d 'With json or schema:FILE: where each event\'s type is, header:NAME or a JSON Pointer [default: the type json]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store -d 'Where events and deliveries live: memory (lost on exit), sqlite:PATH (durable) or postgres://USER@HOST:PORT/DB (durable, shared by several instances)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l sync -d 'With sqlite: full survives a power loss, normal survives a crash of the process' -r -f -a "full\t'fsync every commit: survives a power loss'
normal\t'fsync at checkpoints: survives a crash of the process'"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l retention -d 'With sqlite or postgres: drop events older than this, e.g. 7d' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store-poll -d 'With postgres: how often idle workers look for due deliveries that no notification announced (retries come due, or work queued while the listening connection was down)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store-lease -d 'With postgres: how long a claimed delivery is its instance\'s; past it (the instance died mid-attempt) any instance makes the attempt again. Must be longer than --forward-timeout' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store-connect-timeout -d 'With postgres: how long to wait at start for a database that is not up yet (nothing listening, or still starting); a wrong password or a missing database exits at once' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l store-pool-size -d 'With postgres: connections to the database, shared by requests (half of them commit inserts) and delivery workers' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l header-timeout -d 'Time a client has to send a request\'s headers (from connecting, or its first byte)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l body-timeout -d 'Time a client has to send a request\'s whole body (408 beyond it)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l idle-timeout -d 'Time a kept-alive connection may wait for its next request before it is closed' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-inflight -d 'Requests handled at once; beyond it the answer is 503 with Retry-After at once' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-streams -d 'Event streams (GET /events/stream) open at once; beyond it the answer is 503' -r
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
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-headers -d 'Which headers of the received request go on with each delivery: none, or original (the sender\'s, e.g. X-GitHub-Event and X-Hub-Signature-256, less Host, hop-by-hop ones, webhook-* and svix-*; --forward-header\'s are added over them)' -r -f -a "none\t'Only hookrelay\'s own and --forward-header\'s'
original\t'The sender\'s, as they arrived'"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-secret -d 'Sign forwarded deliveries with this whsec_ secret (Standard Webhooks; repeatable)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-cacert -d 'Also trust the CA certificates in this PEM file for https targets' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l retry-schedule -d 'Waits between attempts of a delivery; after the last, it is dead' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-timeout -d 'Time allowed for each forwarded attempt' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l max-pending -d 'Open deliveries allowed; beyond it POST /webhook answers 503 with Retry-After' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-concurrency -d 'Attempts in flight per target' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l forward-threads -d 'Threads that deliver, apart from the --workers that serve requests' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l circuit-failures -d 'Failed attempts in a row that open an endpoint\'s circuit (then one probe at a time)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand serve" -l circuit-disable-after -d 'An endpoint failing this long, without a success, is disabled' -r
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
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l sample -d 'Send a sample payload shipped with hookrelay (`hookrelay samples list`)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l as -d 'Send as this provider does: its headers, and its signature with --secret [default: the provider --sample is written for, else event]' -r -f -a "event\t'The model, with Standard Webhooks headers when a secret is given'
github\t'X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature-256'
stripe\t'Stripe-Signature (t=…,v1=…)'
standard\t'webhook-id, webhook-timestamp, webhook-signature'
shopify\t'X-Shopify-Topic, X-Shopify-Webhook-Id, X-Shopify-Hmac-Sha256'
slack\t'X-Slack-Request-Timestamp, X-Slack-Signature (v0)'
json\t'Any JSON body as it is, for serve --source json or schema:FILE (with --secret, signed as standard)'"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l event -d 'The type header of --as github (X-GitHub-Event) or shopify (X-Shopify-Topic) [default: the sample\'s]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -s H -l header -d 'Extra request header, repeatable' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l timeout -d 'Time allowed for each attempt' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l connect-timeout -d 'Time allowed for connecting, within --timeout' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l retries -d 'Retries after the first attempt' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l retry-backoff -d 'Wait before the first retry; doubled for each next one' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l secret-file -d 'Read secrets from a file, one per line' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l id -d 'Delivery id, the same on every attempt: webhook-id [default with a secret: evt_<event_id>], or with --as the provider\'s [default: a fresh one per send]' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l cacert -d 'Also trust the CA certificates in this PEM file for https (the public roots stay)' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l secret -d 'Signing secret (repeatable): whsec_ followed by base64 for the event model and --as standard; as written for github, stripe, shopify and slack' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l json -d 'Print one JSON result object on stdout instead of the response body'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l dry-run -d 'Print the request that would be sent, and send nothing'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -l no-proxy -d 'Connect straight to --to, ignoring HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l from -d 'The hookrelay to follow: its address (http(s)://HOST:PORT), or its /events/stream (or /events) URL; ?after=N there starts after event N when there is no state to resume from' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l admin-token -d 'Its admin token (see serve --admin-token)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l admin-token-file -d 'Read the admin token from the first line of a file' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l forward-to -d 'Deliver each event to this URL: the original body and headers, with retries' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l event-type -d 'Only events whose event_type matches this glob (*, ?, […]); also ?event_type= in --from' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l state-file -d 'Remember the last event handled in this file, and resume after it at the next start (over --from\'s ?after=)' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l timeout -d 'Time allowed for each attempt of a delivery to --forward-to' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l retries -d 'Retries of a delivery to --forward-to after the first attempt' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l retry-backoff -d 'Wait before the first retry; doubled for each next one' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l cacert -d 'Also trust the CA certificates in this PEM file for https (the public roots stay)' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -l json -d 'Print each event as one JSON object per line (NDJSON)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand listen" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand validate" -l format -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c hookrelay -n "__fish_hookrelay_using_subcommand validate" -l schema -d 'Check each file against this JSON Schema (draft 2020-12) instead of the event model' -r -F
complete -c hookrelay -n "__fish_hookrelay_using_subcommand validate" -l source -d 'Check each file as this source reads its body: event, github, stripe, standard, shopify, slack, json or schema:FILE' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand validate" -l id-from -d 'With --schema, --source json or schema:FILE: the JSON Pointer each body\'s id must be at, as serve\'s --id-from (a header:NAME one is not checked: a file has no headers)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand validate" -l type-from -d 'With --schema, --source json or schema:FILE: the JSON Pointer each body\'s type must be at, as serve\'s --type-from (header:NAME is not checked)' -r
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
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and not __fish_seen_subcommand_from list show help" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and not __fish_seen_subcommand_from list show help" -f -a "list" -d 'One line per sample: its name, the source it is written for, what it is'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and not __fish_seen_subcommand_from list show help" -f -a "show" -d 'Print a sample\'s body exactly as `send --sample` sends it'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and not __fish_seen_subcommand_from list show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and __fish_seen_subcommand_from help" -f -a "list" -d 'One line per sample: its name, the source it is written for, what it is'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print a sample\'s body exactly as `send --sample` sends it'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand samples; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -l server -d 'The server\'s base URL (its admin listener)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -l admin-token -d 'The admin token (--admin-token of serve), sent as a Bearer token' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -l json -d 'Print the server\'s JSON answer instead of text'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -f -a "list" -d 'List the endpoints'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -f -a "add" -d 'Create an endpoint; prints its id and secret'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -f -a "update" -d 'Change an endpoint (by id or name): only the fields given'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -f -a "rm" -d 'Delete an endpoint; its waiting deliveries are dropped'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -f -a "rotate-secret" -d 'Make a new secret; the old one signs beside it for the grace period'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and not __fish_seen_subcommand_from list add update rm rotate-secret help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from list" -l server -d 'The server\'s base URL (its admin listener)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from list" -l admin-token -d 'The admin token (--admin-token of serve), sent as a Bearer token' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from list" -l json -d 'Print the server\'s JSON answer instead of text'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l url -d 'Where deliveries go' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l name -d 'A unique name' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l filter-type -d 'An event-type glob it takes (repeatable; none: every type)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l header -d 'An extra header \'Name: value\' (repeatable)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l rate-limit -d 'Deliveries per second, at most' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l description -d 'A description' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l server -d 'The server\'s base URL (its admin listener)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l admin-token -d 'The admin token (--admin-token of serve), sent as a Bearer token' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l disable -d 'Its deliveries wait'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -l json -d 'Print the server\'s JSON answer instead of text'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l url -d 'Where deliveries go' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l name -d 'A unique name' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l filter-type -d 'An event-type glob it takes (repeatable; none: every type)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l header -d 'An extra header \'Name: value\' (repeatable)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l rate-limit -d 'Deliveries per second, at most' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l description -d 'A description' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l server -d 'The server\'s base URL (its admin listener)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l admin-token -d 'The admin token (--admin-token of serve), sent as a Bearer token' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l disable -d 'Its deliveries wait'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l enable -d 'Let its deliveries flow again'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -l json -d 'Print the server\'s JSON answer instead of text'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rm" -l server -d 'The server\'s base URL (its admin listener)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rm" -l admin-token -d 'The admin token (--admin-token of serve), sent as a Bearer token' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rm" -l json -d 'Print the server\'s JSON answer instead of text'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rotate-secret" -l grace -d 'How long the old secret keeps signing' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rotate-secret" -l server -d 'The server\'s base URL (its admin listener)' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rotate-secret" -l admin-token -d 'The admin token (--admin-token of serve), sent as a Bearer token' -r
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rotate-secret" -l json -d 'Print the server\'s JSON answer instead of text'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from rotate-secret" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the endpoints'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create an endpoint; prints its id and secret'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from help" -f -a "update" -d 'Change an endpoint (by id or name): only the fields given'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Delete an endpoint; its waiting deliveries are dropped'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from help" -f -a "rotate-secret" -d 'Make a new secret; the old one signs beside it for the grace period'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand endpoints; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand config; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Check a config file: every problem, each with its line'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Check a config file: every problem, each with its line'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand man" -s h -l help -d 'Print help'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "serve" -d 'Receive webhooks on POST /webhook, validate and keep them'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "send" -d 'Deliver one event to a URL, with retries'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "listen" -d 'Follow a hookrelay\'s events live, and deliver them to a local service'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "validate" -d 'Check payload files against the event model'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, powershell, elvish)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "sign" -d 'Print Standard Webhooks signature headers for a body'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "verify" -d 'Verify a Standard Webhooks signature of a body'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "secret" -d 'Make signing secrets and admin tokens'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "schema" -d 'Print the JSON Schema (2020-12) of an event'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "samples" -d 'List or print the sample payloads of each provider'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "endpoints" -d 'Manage the endpoints of a running hookrelay (its admin API)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "config" -d 'Check a config file of serve --config'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "man" -d 'Write man pages (hookrelay.1, hookrelay-serve.1, …) into DIR'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and not __fish_seen_subcommand_from serve send listen validate completions sign verify secret schema samples endpoints config man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from secret" -f -a "new" -d 'Print a new whsec_ secret of 32 random bytes from the operating system'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from samples" -f -a "list" -d 'One line per sample: its name, the source it is written for, what it is'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from samples" -f -a "show" -d 'Print a sample\'s body exactly as `send --sample` sends it'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from endpoints" -f -a "list" -d 'List the endpoints'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from endpoints" -f -a "add" -d 'Create an endpoint; prints its id and secret'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from endpoints" -f -a "update" -d 'Change an endpoint (by id or name): only the fields given'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from endpoints" -f -a "rm" -d 'Delete an endpoint; its waiting deliveries are dropped'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from endpoints" -f -a "rotate-secret" -d 'Make a new secret; the old one signs beside it for the grace period'
complete -c hookrelay -n "__fish_hookrelay_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Check a config file: every problem, each with its line'
