#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Builds every image the kind tier needs, on the engine the tier uses (tests/kind/engine.sh), and
# prints their names as KEY=image lines (for run.sh to source). An image whose version tag exists
# already is not built again; a version tag is a hash of everything the image is built from.
#
#   tests/kind/images.sh            all of them
#
# Built here from Debian packages (debootstrap), Go modules (tests/controlplane/build.sh) and
# this project's code, because no registry is reachable:
#   proxy-order-kind/debian      Debian bookworm: the node's OS (systemd, containerd, runc, CNI
#                                plugins, iptables) and the shell of the Dockerfile's builder stage
#   proxy-order-kind/static      a static base like distroless static: CA certificates, /etc/passwd
#                                with root and nonroot (65532), /tmp; the operator's and the
#                                simulator's base, and that of the control-plane images
#   proxy-order-kind/slim        a few Debian packages with their dependencies: sh, coreutils,
#                                getent, curl, iptables, conntrack (kube-proxy's base, the consumer's image)
#   registry.k8s.io/...          kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
#                                etcd, coredns, pause: what kubeadm asks for, preloaded into the node
#   proxy-order-kind/node        the kind node image (see build_node)
#   proxy-order-operator, proxy-solutions-sim   from the project's Dockerfile (BINARIES=prebuilt)
#
# KIND_PUBLIC_IMAGES=1: the node image is kind's public kindest/node, the Dockerfile's bases are its
# public defaults, the consumer is curlimages/curl; only the project's two images are built.
set -euo pipefail

# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
kind_engine_env

say() { echo "images: $*" >&2; }
die() { echo "images: error: $*" >&2; exit 1; }

mkdir -p "${KIND_BUILD_DIR}" "${KIND_WORK}"
build_ctr=""
cleanup() {
  if [[ -n "${build_ctr}" ]]; then docker rm -f "${build_ctr}" >/dev/null 2>&1 || true; fi
  rm -rf "${KIND_BUILD_DIR:?}"/tmp-* 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The packages of the node (kind's base image's list, without what a single-node cluster on
# containerd's overlayfs does not use: fuse-overlayfs, NFS, iSCSI) plus Debian's containerd, runc
# and CNI plugins (kind builds its own), and curl for the consumer image.
NODE_PACKAGES=(systemd dbus conntrack iptables nftables iproute2 ethtool util-linux mount kmod
  libseccomp2 pigz bash ca-certificates procps jq containerd runc containernetworking-plugins curl)
# What the slim image holds (with their dependencies).
SLIM_PACKAGES=(dash coreutils libc-bin curl iptables conntrack ca-certificates)

# docker_build ARGS...: the legacy builder (it does not pull a FROM image that exists
# locally), quiet; its output only when it fails.
docker_build() {
  local err="${KIND_WORK}/docker-build.err"
  DOCKER_BUILDKIT=0 docker build -q "$@" >/dev/null 2>"${err}" || { cat "${err}" >&2; return 1; }
}

# --- Debian --------------------------------------------------------------------------------------

# build_debian IMAGE: debootstrap's first stage on the host (only downloads and unpacks), its
# second stage (the packages' maintainer scripts) inside a container without network: there
# /proc/sys is read-only, so no package's script (procps runs `sysctl --system`) can change the
# machine's kernel settings, and nothing can reach out.
build_debian() {
  local image="$1" root="${KIND_BUILD_DIR}/tmp-debian" stage1 ctr
  command -v debootstrap >/dev/null 2>&1 || install_packages debootstrap
  say "debootstrap ${DEBIAN_SUITE} (first stage) into ${root}"
  rm -rf "${root}"
  local includes
  includes="$(IFS=,; echo "${NODE_PACKAGES[*]}")"
  debootstrap --foreign --variant=minbase --arch=amd64 --include="${includes}" \
    "${DEBIAN_SUITE}" "${root}" "${DEBIAN_MIRROR}" >"${KIND_WORK}/debootstrap.log" 2>&1 \
    || { tail -n 20 "${KIND_WORK}/debootstrap.log" >&2; die "debootstrap failed (log: ${KIND_WORK}/debootstrap.log)"; }
  stage1="${image}-stage1"
  tar -C "${root}" --numeric-owner -c . | docker import --change 'CMD ["/bin/bash"]' - "${stage1}" >/dev/null
  rm -rf "${root}"
  say "debootstrap second stage in a container (no network, /proc/sys read-only)"
  ctr="proxy-order-kind-debian-$$"
  build_ctr="${ctr}"
  docker run --name "${ctr}" --network none "${stage1}" /bin/bash -c '
      set -e
      /debootstrap/debootstrap --second-stage
      apt-get clean
      rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /debootstrap' \
    >>"${KIND_WORK}/debootstrap.log" 2>&1 \
    || { tail -n 20 "${KIND_WORK}/debootstrap.log" >&2; die "debootstrap second stage failed (log: ${KIND_WORK}/debootstrap.log)"; }
  # Exported and imported as one layer: the first stage's downloaded packages are gone from it.
  docker export "${ctr}" | docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "${image}" >/dev/null
  docker rm -f "${ctr}" >/dev/null
  build_ctr=""
  docker rmi "${stage1}" >/dev/null
}

# install_packages PKG...: apt-get install (the machine's package manager; nothing else is
# changed on the machine).
install_packages() {
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } \
    || die "apt-get install $* failed"
}

# --- static and slim -----------------------------------------------------------------------------

# build_static IMAGE DEBIAN: root, nonroot (65532) and nobody in /etc/passwd and /etc/group, the
# CA bundle of Debian's ca-certificates (from DEBIAN), /tmp and /home/nonroot: what distroless
# static:nonroot holds, for static binaries.
build_static() {
  local image="$1" debian="$2" root="${KIND_BUILD_DIR}/tmp-static"
  rm -rf "${root}"
  mkdir -p "${root}/etc/ssl/certs" "${root}/tmp" "${root}/home/nonroot" "${root}/usr/local/bin"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"${root}/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"${root}/etc/group"
  printf 'hosts: files dns\n' >"${root}/etc/nsswitch.conf"
  docker run --rm --network none "${debian}" cat /etc/ssl/certs/ca-certificates.crt \
    >"${root}/etc/ssl/certs/ca-certificates.crt"
  chmod 1777 "${root}/tmp"
  chmod 0700 "${root}/home/nonroot"
  chown -R 0:0 "${root}"
  chown 65532:65532 "${root}/home/nonroot"
  tar -C "${root}" --numeric-owner -c . >"${root}.tar"
  docker import --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    "${root}.tar" "${image}" >/dev/null
  rm -rf "${root}" "${root}.tar"
}

# build_slim IMAGE DEBIAN: SLIM_PACKAGES and their dependencies (Depends and Pre-Depends, first
# alternative), file by file from DEBIAN's package lists, plus the links maintainer scripts make.
build_slim() {
  local image="$1" debian="$2"
  docker run --rm --network none -e "PKGS=${SLIM_PACKAGES[*]}" "${debian}" /bin/bash -c '
    set -euo pipefail
    declare -A seen=()
    queue=(${PKGS})
    while ((${#queue[@]})); do
      p="${queue[0]}"; queue=("${queue[@]:1}")
      [[ -n "${seen[$p]:-}" ]] && continue
      seen[$p]=1
      deps="$(dpkg-query -W -f="\${Depends}, \${Pre-Depends}" "$p" 2>/dev/null || true)"
      IFS=, read -ra parts <<<"${deps}"
      for d in "${parts[@]}"; do
        d="${d%%|*}"; d="${d%%(*}"; d="${d%%:*}"; d="$(echo $d)"
        [[ -n "$d" ]] && dpkg-query -W "$d" >/dev/null 2>&1 && queue+=("$d")
      done
    done
    { for p in "${!seen[@]}"; do dpkg-query -L "$p"; done
      # Links that maintainer scripts make (not in the package lists): /bin/sh, iptables'"'"' alternatives.
      ls -d /bin/sh /etc/alternatives/ip*tables* /usr/sbin/ip*tables* /etc/ssl/certs/ca-certificates.crt
    } | while read -r f; do
      [[ -e "$f" || -L "$f" ]] || continue
      [[ -d "$f" && ! -L "$f" ]] && continue
      # Debian has merged /usr (/bin -> usr/bin): the path through real folders.
      d="$(readlink -f "$(dirname "$f")")"
      echo "${d#/}/$(basename "$f")"
    done | sed "s#^/##" | sort -u >/tmp/files
    # The merged-/usr links first.
    { for l in bin sbin lib lib64; do [[ -L "/$l" ]] && echo "$l"; done; grep -v -x -E "bin|sbin|lib|lib64" /tmp/files; } >/tmp/all
    mkdir -p /tmp/empty/tmp && chmod 1777 /tmp/empty/tmp
    tar -C / --numeric-owner --no-recursion -c -T /tmp/all -C /tmp/empty tmp
  ' | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/sh"]' - "${image}" >/dev/null
}

# --- control-plane images ------------------------------------------------------------------------

# build_binary_image IMAGE BASE USER BINARY DEST [ENTRYPOINT-JSON]: BASE plus one binary.
build_binary_image() {
  local image="$1" base="$2" user="$3" binary="$4" dest="$5" entrypoint="${6:-}" ctx
  ctx="${KIND_BUILD_DIR}/tmp-ctx-$(basename "${binary}")"
  rm -rf "${ctx}" && mkdir -p "${ctx}"
  cp "${binary}" "${ctx}/bin"
  {
    echo "FROM ${base}"
    echo "COPY bin ${dest}"
    echo "USER ${user}"
    if [[ -n "${entrypoint}" ]]; then echo "ENTRYPOINT ${entrypoint}"; fi
  } >"${ctx}/Dockerfile"
  docker_build -t "${image}" "${ctx}"
  rm -rf "${ctx}"
}

# --- the node image ------------------------------------------------------------------------------

# kind_module_dir: kind's module in Go's module cache (its images/base/files are the node's).
kind_module_dir() {
  local dir
  dir="$(cd "${KIND_BUILD_DIR}" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@${KIND_VERSION}" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "${dir}/images/base/files" ]] || die "kind ${KIND_VERSION}'s images/base/files not found in the Go module cache"
  echo "${dir}"
}

# build_node IMAGE DEBIAN IMAGES...: what `kind build node-image` makes, from DEBIAN: kind's
# images/base/files (entrypoint, containerd config, kubelet units; from kind's module), the
# steps of kind's base Dockerfile, kubelet, kubeadm and kubectl, this tier's node files
# (tests/kind/node/: the guard that runs before kind's entrypoint, the CNI configuration), then
# the control-plane IMAGES imported into the node's containerd (as kind's importer does) and the
# container committed.
build_node() {
  local image="$1" debian="$2" kindmod ctx ctr
  shift 2
  kindmod="$(kind_module_dir)"
  ctx="${KIND_BUILD_DIR}/tmp-node"
  rm -rf "${ctx}" && mkdir -p "${ctx}/bin"
  cp -R "${kindmod}/images/base/files" "${ctx}/files"
  chmod -R u+w "${ctx}/files"
  cp -R "${KIND_DIR}/node" "${ctx}/proxy-order"
  for b in kubelet kubeadm kubectl; do cp "${KIND_K8S_BIN}/${b}" "${ctx}/bin/${b}"; done
  echo "${KUBE_VERSION}" >"${ctx}/version"
  cat >"${ctx}/Dockerfile" <<EOF
FROM ${debian}
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY bin/ /usr/bin/
COPY version /kind/version
COPY proxy-order/ /kind/proxy-order/
# kind's base Dockerfile's steps (images/base/Dockerfile), and where the node's packages are
# Debian's: containerd and runc in /usr/bin, the CNI plugins in /usr/lib/cni (kind's units and
# configuration name /usr/local/bin/containerd and /opt/cni/bin).
RUN set -eux; \\
    chmod 0755 /usr/local/bin/* /kind /kind/bin /kind/bin/* /usr/bin/kubelet /usr/bin/kubeadm /usr/bin/kubectl \\
      /kind/proxy-order/node-guard; \\
    find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete; \\
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*; \\
    echo "ReadKMsg=no" >> /etc/systemd/journald.conf; \\
    ln -sf /usr/lib/systemd/systemd /sbin/init; \\
    ln -sf /usr/bin/containerd /usr/local/bin/containerd; \\
    mkdir -p /opt/cni; ln -sfn /usr/lib/cni /opt/cni/bin; \\
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service; \\
    systemctl mask systemd-binfmt.service; \\
    mkdir -p /etc/kubernetes/manifests /kind/manifests; \\
    : "an empty /lib/modules for kube-proxy's hostPath: the machine's is not mounted (docker-shim)"; \\
    mkdir -p /lib/modules; \\
    cp /kind/proxy-order/default-storage.yaml /kind/manifests/default-storage.yaml; \\
    ctr oci spec \\
      | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \\
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json; \\
    sed -i 's#sandbox_image = .*#sandbox_image = "registry.k8s.io/pause:${PAUSE_VERSION}"#' /etc/containerd/config.toml; \\
    /kind/proxy-order/node-guard --check-image
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/kind/proxy-order/node-guard", "/usr/local/bin/entrypoint", "/sbin/init"]
EOF
  docker_build -t "${image}-base" "${ctx}"
  rm -rf "${ctx}"

  # The control-plane images into the node's containerd, as kind's node-image build does
  # (pkg/build/nodeimage/imageimporter.go): containerd started in a container of the image,
  # `ctr images import` of a `docker save`, the container committed. The container gets the
  # capabilities a node gets (see docker-shim/docker) but keeps Docker's read-only /proc/sys.
  ctr="proxy-order-kind-node-$$"
  build_ctr="${ctr}"
  docker run -d --name "${ctr}" --network none --entrypoint sleep \
    --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
    --tmpfs /run --tmpfs /tmp "${image}-base" infinity >/dev/null
  docker exec "${ctr}" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 &
    for i in $(seq 1 50); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 0.2; done
    cat /tmp/containerd.log >&2; exit 1' || die "containerd did not start in the node build container"
  docker save "$@" | docker exec -i "${ctr}" ctr --namespace=k8s.io images import \
    --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >/dev/null
  docker exec "${ctr}" ctr --namespace=k8s.io images list -q | sort >"${KIND_WORK}/node-images.txt"
  # (containerd's parent is gone, and sleep, the container's first process, reaps nothing: a
  # stopped containerd stays a zombie.)
  docker exec "${ctr}" bash -c 'pkill containerd
    for i in $(seq 1 100); do ps -C containerd -o stat= | grep -qv "^Z" || exit 0; sleep 0.2; done; exit 1'
  docker commit \
    --change 'ENTRYPOINT ["/kind/proxy-order/node-guard", "/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change 'CMD []' "${ctr}" "${image}" >/dev/null
  docker rm -f "${ctr}" >/dev/null
  build_ctr=""
  docker rmi "${image}-base" >/dev/null
  local want
  for want in "$@"; do
    grep -qx "${want}" "${KIND_WORK}/node-images.txt" || die "the node's containerd lacks ${want} (has: $(tr '\n' ' ' <"${KIND_WORK}/node-images.txt"))"
  done
}

# --- the project's images ------------------------------------------------------------------------

# build_project RUST_IMAGE RUNTIME_IMAGE: the operator and simulator images from the project's
# Dockerfile, with the binaries cargo builds on the host (BINARIES=prebuilt, see the Dockerfile).
# Sets OPERATOR_IMAGE and SIMULATOR_IMAGE; their tag is a hash of the binaries and the bases.
build_project() {
  local rust_image="$1" runtime_image="$2" target=x86_64-unknown-linux-musl tag
  "${KIND_ROOT}/hack/build-static.sh" "${target}" "${KIND_ROOT}/prebuilt"
  # The OCI labels: the crate's version and the commit (part of the tag, so that the labels
  # are always this checkout's).
  local version revision
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${KIND_ROOT}/Cargo.toml" | head -n1)"
  revision="$(git -C "${KIND_ROOT}" rev-parse HEAD 2>/dev/null || echo unknown)"
  tag="$( { cat "${KIND_ROOT}/prebuilt/proxy-order-operator" "${KIND_ROOT}/prebuilt/proxy-solutions-sim" \
    "${KIND_ROOT}/Dockerfile"; echo "${rust_image} ${runtime_image} ${version} ${revision}"; } | sha256sum | cut -c1-12)"
  OPERATOR_IMAGE="proxy-order-operator:kind-${tag}"
  SIMULATOR_IMAGE="proxy-solutions-sim:kind-${tag}"
  local stage image
  for stage in operator simulator; do
    image="${OPERATOR_IMAGE}"
    [[ "${stage}" == simulator ]] && image="${SIMULATOR_IMAGE}"
    if kind_image_exists "${image}"; then continue; fi
    say "docker build --target ${stage} (Dockerfile, BINARIES=prebuilt) -> ${image}"
    (cd "${KIND_ROOT}" && docker_build --target "${stage}" \
      --build-arg BINARIES=prebuilt --build-arg RUST_IMAGE="${rust_image}" \
      --build-arg RUNTIME_IMAGE="${runtime_image}" --build-arg VERSION="${version}" \
      --build-arg REVISION="${revision}" -t "${image}" .)
  done
  # The images say what they are built from.
  local labels want
  want="https://github.com/proxy-order-operator/proxy-order-operator ${version} ${revision}"
  for image in "${OPERATOR_IMAGE}" "${SIMULATOR_IMAGE}"; do
    labels="$(docker image inspect --format '{{ index .Config.Labels "org.opencontainers.image.source" }} {{ index .Config.Labels "org.opencontainers.image.version" }} {{ index .Config.Labels "org.opencontainers.image.revision" }}' "${image}")"
    [[ "${labels}" == "${want}" ]] || { echo "images: ${image} has OCI labels '${labels}', not '${want}'" >&2; return 1; }
  done
  find "${KIND_ROOT}/prebuilt" -mindepth 1 ! -name README.md -delete
}

# ensure NAME IMAGE FUNCTION ARGS...: FUNCTION IMAGE ARGS... unless IMAGE exists; times it.
ensure() {
  local name="$1" image="$2" fn="$3"
  shift 3
  if kind_image_exists "${image}"; then
    say "${name}: ${image} (built before)"
    return 0
  fi
  local start=${SECONDS}
  say "${name}: building ${image}"
  "${fn}" "${image}" "$@"
  say "${name}: built ${image} in $((SECONDS - start))s"
  echo "image-${name} $((SECONDS - start))" >>"${KIND_WORK}/times"
}

# Sourced (by a developer, to run one step): only the functions.
if [[ "${BASH_SOURCE[0]}" != "${0}" ]]; then return 0; fi

if kind_public; then
  build_project docker.io/library/debian:bookworm-slim gcr.io/distroless/static-debian12:nonroot
  printf 'NODE_IMAGE=%s\nOPERATOR_IMAGE=%s\nSIMULATOR_IMAGE=%s\nCONSUMER_IMAGE=%s\n' \
    "${KIND_PUBLIC_NODE_IMAGE}" "${OPERATOR_IMAGE}" "${SIMULATOR_IMAGE}" docker.io/curlimages/curl:8.11.1
  exit 0
fi

# Binaries from Go modules (each built once, cached by version in the project cache).
"${KIND_ROOT}/tests/controlplane/build.sh" etcd kubectl kube-apiserver kube-controller-manager \
  kube-scheduler kube-proxy kubeadm kubelet coredns pause >&2

# Version tags: hashes of what each image is built from, the building functions' own text included.
DEBIAN_IMAGE="proxy-order-kind/debian:${DEBIAN_SUITE}-$( { echo "${NODE_PACKAGES[*]} ${DEBIAN_MIRROR}"
  declare -f build_debian; } | sha256sum | cut -c1-12)"
ensure debian "${DEBIAN_IMAGE}" build_debian
STATIC_IMAGE="proxy-order-kind/static:nonroot-$( { echo "${DEBIAN_IMAGE}"; declare -f build_static; } | sha256sum | cut -c1-12)"
ensure static "${STATIC_IMAGE}" build_static "${DEBIAN_IMAGE}"
SLIM_IMAGE="proxy-order-kind/slim:${DEBIAN_SUITE}-$( { echo "${DEBIAN_IMAGE} ${SLIM_PACKAGES[*]}"; declare -f build_slim; } | sha256sum | cut -c1-12)"
ensure slim "${SLIM_IMAGE}" build_slim "${DEBIAN_IMAGE}"

# The control-plane images under the names kubeadm ${KUBE_VERSION} asks for. Each carries a label
# with what it was built from, so a rebuilt binary or base replaces it.
cp_images=()
cp_image() {
  local ref="$1" base="$2" user="$3" bin="$4" dest="$5" entrypoint="${6:-}" stamp have
  stamp="$(cat "${KIND_K8S_BIN}/$(basename "${bin}").stamp") ${base} ${user} ${dest} ${entrypoint} $(declare -f build_binary_image)"
  stamp="$(echo "${stamp}" | sha256sum | cut -c1-12)"
  have="$(docker image inspect -f '{{index .Config.Labels "proxy-order.kind/stamp"}}' "${ref}" 2>/dev/null || true)"
  cp_images+=("${ref}")
  if [[ "${have}" == "${stamp}" ]]; then return 0; fi
  say "building ${ref}"
  build_binary_image "${ref}-build" "${base}" "${user}" "${bin}" "${dest}" "${entrypoint}"
  printf 'FROM %s\nLABEL proxy-order.kind/stamp=%s\n' "${ref}-build" "${stamp}" \
    | docker_build -t "${ref}" -
  docker rmi "${ref}-build" >/dev/null
}
start=${SECONDS}
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  cp_image "registry.k8s.io/${c}:${KUBE_VERSION}" "${STATIC_IMAGE}" 0:0 "${KIND_K8S_BIN}/${c}" "/usr/local/bin/${c}"
done
# kube-proxy writes iptables rules: the slim image has iptables.
cp_image "registry.k8s.io/kube-proxy:${KUBE_VERSION}" "${SLIM_IMAGE}" 0:0 "${KIND_K8S_BIN}/kube-proxy" /usr/local/bin/kube-proxy
etcd_tag="$(sed -n 's/.*DefaultEtcdVersion = "\(.*\)"/\1/p' "$(cd "${KIND_ROOT}/tests/controlplane/kube" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/cmd/kubeadm/app/constants/constants.go")"
[[ -n "${etcd_tag}" ]] || die "kubeadm's etcd version not found"
cp_image "registry.k8s.io/etcd:${etcd_tag}" "${STATIC_IMAGE}" 0:0 "${KIND_K8S_BIN}/etcd" /usr/local/bin/etcd
cp_image "registry.k8s.io/coredns/coredns:${COREDNS_VERSION}" "${STATIC_IMAGE}" 0:0 "${KIND_K8S_BIN}/coredns" /coredns '["/coredns"]'
cp_image "registry.k8s.io/pause:${PAUSE_VERSION}" "${STATIC_IMAGE}" 65535:65535 "${KIND_K8S_BIN}/pause" /pause '["/pause"]'
echo "image-control-plane $((SECONDS - start))" >>"${KIND_WORK}/times"

node_hash="$( {
  for i in "${cp_images[@]}"; do docker image inspect -f '{{.Id}}' "${i}"; done
  for b in kubelet kubeadm kubectl; do cat "${KIND_K8S_BIN}/${b}.stamp"; done
  echo "${DEBIAN_IMAGE} ${KIND_VERSION} ${PAUSE_VERSION}"
  declare -f build_node kind_module_dir
  find "${KIND_DIR}/node" -type f | sort | xargs cat
} | sha256sum | cut -c1-12)"
NODE_IMAGE="proxy-order-kind/node:${KUBE_VERSION}-${node_hash}"
ensure node "${NODE_IMAGE}" build_node "${DEBIAN_IMAGE}" "${cp_images[@]}"

start=${SECONDS}
build_project "${DEBIAN_IMAGE}" "${STATIC_IMAGE}"
echo "image-project $((SECONDS - start))" >>"${KIND_WORK}/times"

printf 'NODE_IMAGE=%s\nOPERATOR_IMAGE=%s\nSIMULATOR_IMAGE=%s\nCONSUMER_IMAGE=%s\n' \
  "${NODE_IMAGE}" "${OPERATOR_IMAGE}" "${SIMULATOR_IMAGE}" "${SLIM_IMAGE}"
