#!/usr/bin/env bash
# Follows the operator's blue-green rollout of one NdfCluster from the release pipeline
# (.github/workflows/release.yml), reading only what the operator writes into its status
# (docs/deployment.md, "Blue-green rollouts"):
#
#   ndf-rollout.sh wait-preview    until the operator has seen the latest spec and its revision
#                                  either awaits promotion (prints `state=awaiting`,
#                                  `revision=REV`) or is already active (autoPromote or
#                                  Rolling: `state=promoted`, `revision=REV`)
#   ndf-rollout.sh promote REV     annotates ndf.dev/promote=REV (the manual promotion)
#   ndf-rollout.sh wait-promoted   until the newest revision is active and settled (Promoted
#                                  and Available True, phase Stable or Draining)
#   ndf-rollout.sh settle          wait-preview, promote what awaits, wait-promoted: staging,
#                                  and the rollback to the previous (known good) revision
#
# Every wait fails on an aborted rollout (the Degraded condition's message is printed) and at
# its deadline. Environment: NDF_NAMESPACE and NDF_CLUSTER (required); KUBECTL (default
# kubectl); NDF_ROLLOUT_TIMEOUT seconds per wait (default 1800); NDF_POLL_SECONDS (default 10).
# The output lines are `key=value`, ready for $GITHUB_OUTPUT. Exit 0, 1 (failed), 2 (usage).
set -euo pipefail

die() { echo "ndf-rollout: $*" >&2; exit 1; }
usage() { echo "usage: ndf-rollout.sh wait-preview | promote REVISION | wait-promoted | settle" >&2; exit 2; }

: "${NDF_NAMESPACE:?set NDF_NAMESPACE}"
: "${NDF_CLUSTER:?set NDF_CLUSTER}"
kubectl=${KUBECTL:-kubectl}
timeout=${NDF_ROLLOUT_TIMEOUT:-1800}
poll=${NDF_POLL_SECONDS:-10}
command -v jq >/dev/null || die "jq is not installed"

# The NdfCluster as JSON.
get() { $kubectl get ndfcluster "$NDF_CLUSTER" -n "$NDF_NAMESPACE" -o json; }

# state JSON: one line "generation observed phase promoted available preview active target".
state() {
    jq -r '[
        (.metadata.generation // 0),
        (.status.observedGeneration // -1),
        (.status.rollout.phase // "Unknown"),
        ((.status.conditions // []) | map(select(.type == "Promoted"))[0].status // "Unknown"),
        ((.status.conditions // []) | map(select(.type == "Available"))[0].status // "Unknown"),
        (.status.previewRevision // "-"),
        (.status.activeRevision // "-"),
        (.status.rollout.targetRevision // "-")
    ] | map(tostring) | join(" ")' <<<"$1"
}

degraded_message() {
    jq -r '(.status.conditions // []) | map(select(.type == "Degraded"))[0].message // "no message"' <<<"$1"
}

# wait_for MODE: polls until MODE (preview | promoted) is reached; prints the outcome.
wait_for() {
    local mode=$1 deadline json gen observed phase promoted available preview active target last=""
    deadline=$(($(date +%s) + timeout))
    while :; do
        json=$(get) || die "cannot read ndfcluster/$NDF_CLUSTER in namespace $NDF_NAMESPACE"
        read -r gen observed phase promoted available preview active target <<<"$(state "$json")"
        local now="generation $gen (observed $observed), phase $phase, Promoted $promoted, Available $available, preview $preview, active $active"
        [ "$now" = "$last" ] || echo "ndf-rollout: $now" >&2
        last=$now
        # Status written for an older spec says nothing about this one.
        if [ "$observed" -ge "$gen" ]; then
            case $phase in
                Aborted)
                    die "the rollout of revision $target was aborted: $(degraded_message "$json")"
                    ;;
                AwaitingPromotion)
                    if [ "$mode" = preview ]; then
                        printf 'state=awaiting\nrevision=%s\n' "$preview"
                        return 0
                    fi
                    ;;
                Stable | Draining)
                    if [ "$promoted" = True ] && [ "$available" = True ]; then
                        printf 'state=promoted\nrevision=%s\n' "$active"
                        return 0
                    fi
                    ;;
            esac
        fi
        [ "$(date +%s)" -lt "$deadline" ] || die "no $mode state within ${timeout}s (last: $now)"
        sleep "$poll"
    done
}

promote() {
    local revision=$1
    [[ $revision =~ ^[A-Za-z0-9._-]+$ ]] || die "not a revision: $revision"
    $kubectl annotate ndfcluster "$NDF_CLUSTER" -n "$NDF_NAMESPACE" --overwrite \
        "ndf.dev/promote=$revision" >/dev/null
    echo "ndf-rollout: promoted revision $revision (ndf.dev/promote)" >&2
}

case ${1:-} in
    wait-preview) [ $# -eq 1 ] || usage; wait_for preview ;;
    wait-promoted) [ $# -eq 1 ] || usage; wait_for promoted ;;
    promote) [ $# -eq 2 ] || usage; promote "$2" ;;
    settle)
        [ $# -eq 1 ] || usage
        out=$(wait_for preview)
        if grep -qx 'state=awaiting' <<<"$out"; then
            promote "$(sed -n 's/^revision=//p' <<<"$out")"
            wait_for promoted
        else
            echo "$out"
        fi
        ;;
    *) usage ;;
esac
