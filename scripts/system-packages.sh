#!/usr/bin/env bash
# Debian packages the image and deployment tests use: runc and umoci (the container target),
# skopeo and docker-registry (pushing to and reading back from a real registry), iproute2
# (network namespaces and veth pairs), openssl (test certificates), kubectl (offline manifest
# validation), h2load and wrk (`npm run soak`, not run by CI), chromium (the dashboard end-to-end tests). Installs what is missing; needs
# root (CI runs as root).
set -euo pipefail
need=()
for pair in runc:runc umoci:umoci skopeo:skopeo docker-registry:docker-registry ip:iproute2 openssl:openssl kubectl:kubectl h2load:nghttp2-client wrk:wrk chromium:chromium; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || [ -x "/usr/bin/$bin" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
