module tracewire/bench/loadgen

go 1.19
