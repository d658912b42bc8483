# Shared by the GPU lease scripts (sourced, not run): the session clock and log in $OUT/logs/session.log.
# Needs OUT, BUDGET (seconds from now) and PY set; defines left() (seconds of BUDGET left) and log().
mkdir -p "$OUT/logs"
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }
log() { echo "[$(date +%T) +$(($(date +%s) - T0))s] $*" | tee -a "$OUT/logs/session.log"; }
export PYTHONUNBUFFERED=1
log "device: $($PY -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", torch.__version__)'); cores $(nproc)"
