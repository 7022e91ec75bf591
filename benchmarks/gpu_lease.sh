#!/usr/bin/env bash
# Make what a lent GPU machine needs for benchmarks/GPU.md, in two folders the device tool carries
# (each call takes at most 64 MiB with the repository, and onnxruntime-gpu alone is 56 MiB compressed):
#   .dev1/  the first 50 MiB of onnxruntime-gpu, its CUDA kernels for other GPUs than sm_90 zeroed
#   .dev2/  the rest of it, the wheels the machine lacks (pyzmq, soundfile, cffi, pycparser, simplejpeg,
#           imageio-ffmpeg), packs of ../shared/portraits, 20 s of flite speech, and run.sh
#
#   bash benchmarks/gpu_lease.sh            # here, a few minutes (needs the mediapipe venv of .ci/run)
#   run(carry [".dev1"], "mkdir -p /root/carry && cp .dev1/part1 /root/carry/")
#   run(carry [".dev2"], "bash .dev2/run.sh tests bench bridge")   # within the 30 s the machine stays warm
#
# run.sh's steps: tests (tests/test_gpu.py, less the test whose speech needs flite), bench
# (bench_gpu.py, writing gpu_<card>.json), bridge (bench_bridge.py --device auto); what they write comes
# back under $OUT. The machine's Python is 3.12 with PyTorch's CUDA 13 libraries, which onnxruntime-gpu
# 1.31 loads.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.dev[12]/' .git/info/exclude 2>/dev/null || printf '/.dev[12]/\n' >> .git/info/exclude
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf .dev1 .dev2 && mkdir -p .dev1 .dev2/whl .dev2/packs

wheels() {  # CPython 3.12 manylinux wheels, without their dependencies
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_26_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 -d "$@"
}
wheels "$work" onnxruntime-gpu==1.31.1
wheels .dev2/whl pyzmq soundfile cffi pycparser simplejpeg imageio-ffmpeg==0.5.1

# onnxruntime-gpu without what facecast's import never loads (the C API's own copy of the runtime, the
# TensorRT provider, the Python tools), its CUDA kernels for other GPUs zeroed, then xz with the x86 filter.
mkdir "$work/ort" && (cd "$work/ort" && python3 -m zipfile -e "$work"/onnxruntime_gpu-*.whl .)
capi="$work/ort/onnxruntime/capi"
rm -rf "$capi"/libonnxruntime.so.* "$capi"/libonnxruntime_providers_tensorrt.so \
    "$work/ort/onnxruntime/"{transformers,tools,quantization}
python3 benchmarks/prune_cuda_kernels.py "$capi/libonnxruntime_providers_cuda.so" "$work/cuda.so" --keep 90
mv "$work/cuda.so" "$capi/libonnxruntime_providers_cuda.so"
(cd "$work/ort" && tar cf - . | xz --x86 --lzma2=preset=9e,dict=128MiB -T2) > "$work/ort.tar.xz"
head -c 52428800 "$work/ort.tar.xz" > .dev1/part1
tail -c +52428801 "$work/ort.tar.xz" > .dev2/part2

for picture in ../shared/portraits/*.{png,jpg}; do
    name=$(basename "${picture%.*}")
    /tmp/facecast-portrait/bin/python -m facecast.cli prepare "$picture" -o ".dev2/packs/$name.facecast" -q
done
(cd benchmarks && python3 -c "
import soundfile as sf
from common import speech_clip
sf.write('../.dev2/speech.wav', speech_clip(20), 16000)")

cat > .dev2/run.sh <<'EOF'
#!/usr/bin/env bash
# On the lent machine: install onnxruntime-gpu and the wheels beside the machine's own packages, then run
# the steps named (tests, bench, bridge).
export PYTHONUNBUFFERED=1
set -o pipefail
mkdir -p /tmp/site && cat /root/carry/part1 .dev2/part2 | xz -d | tar x -C /tmp/site || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .dev2/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
facecast info | tail -2
for step in "$@"; do
    echo "== $step, $(date -u +%T)"
    case $step in
        tests) python3 -m pytest -q tests/test_gpu.py \
                   --deselect tests/test_gpu.py::test_the_lip_network_on_cuda_gives_the_cpus_motion \
                   2>&1 | tee "$OUT/test_gpu.txt" | tail -5 ;;
        bench) python3 benchmarks/bench_gpu.py --packs .dev2/packs --speech .dev2/speech.wav --seconds 2 \
                   2>&1 | tee "$OUT/bench_gpu.txt" | tail -30
               cp "$(ls -t benchmarks/results/gpu_*.json | head -1)" "$OUT/" ;;
        bridge) python3 benchmarks/bench_bridge.py --device auto --speech .dev2/speech.wav --seconds 15 \
                    --sessions 1 8 32 --texture-sessions 1 4 8 16 2>&1 | tee "$OUT/bench_bridge.txt" | tail -16
                cp benchmarks/results/bridge_latency_auto.json "$OUT/" ;;
        *) echo "unknown step $step (tests, bench, bridge)" ;;
    esac
done
EOF
du -sh .dev1 .dev2
