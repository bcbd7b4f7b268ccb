# Kernel matrix (included by the Makefile): `make kernels` boots Debian 12's
# stock kernel (6.1) and bookworm-backports' newer one under qemu (TCG) and
# loads every BPF program in each with the static bpf_verify of `make
# verify`: one table per kernel, non-zero exit when a program fails on any.
# Kernel packages are downloaded once into ~/.cache/tracewire-kernels.
# KERNELS="stock" limits the matrix; KERNELS_TIMEOUT bounds each guest.
.PHONY: kernels
kernels: $(BPF_OBJS) $(VERIFY_TOOL)
	bash scripts/kernels.sh $(VERIFY_TOOL) $(BPF_OBJS)
