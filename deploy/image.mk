# Container image (included by the Makefile; see deploy/README.md).
#
#   make image         OCI image $(IMAGE) from $(BIN) and the Debian 12 packages
#                      installed here, with buildah (no base image, no registry):
#                      deploy/image-build.sh. Also $(IMAGE_DIR)/tracewire-oci.tar.
#   make image-test    runs it with podman as the DaemonSet would (host pid
#                      namespace, the capability list, read-only mounts)
#                      against a demo of lab pods, and checks the spans and
#                      /healthz, /readyz, /metrics: tests/image/test_image.sh
#   make image-deps    installs buildah, podman and runc from Debian's archive
#   make deploy-check  parses and checks the manifests in deploy/
#                      (tests/deploy/check_manifests.py; python3-yaml)
# All but deploy-check need root.

IMAGE      ?= localhost/tracewire:latest
IMAGE_DIR  := $(BUILD)/image
IMAGE_PKGS := buildah podman runc ca-certificates
# these include `image` as well: `make image-test` builds it first
.PHONY: image image-test image-deps deploy-check

image-deps: check-root
	@missing=$$(for p in $(IMAGE_PKGS); do \
		dpkg-query -W -f='$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "image-deps: installing" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	fi

image: check-root image-deps $(BIN)
	bash deploy/image-build.sh $(BIN) $(IMAGE_DIR) $(IMAGE)

image-test: image
	TW_IMAGE=$(IMAGE) TRACEWIRE=$(abspath $(BIN)) timeout --kill-after=20 300 \
		bash tests/image/test_image.sh

deploy-check:
	python3 tests/deploy/check_manifests.py deploy
