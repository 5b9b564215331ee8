set -u
export PYTHONUNBUFFERED=1 XDG_CACHE_HOME=$PWD/.gpu/xdg
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl 2>/dev/null
export PYTHONPATH=$PWD:/tmp/site
echo "== $(date +%T) overhead"
timeout 75 python3 benchmarks/runner_overhead.py --device cuda --workloads fmnist_resnet --seconds 5 --repeats 2 2>&1 | tee $OUT/overhead.txt
echo "== $(date +%T) calibrate + run (GPU speed probe)"
timeout 30 python3 -m optbench calibrate --device cuda --threads 4 --size mini --workloads fmnist_resnet --repeats 1 --steps 20 -o $OUT/p2.json 2>&1 | tail -3
timeout 40 python3 -m optbench run --device cuda --profile $OUT/p2.json --workload fmnist_resnet --experiment-dir /tmp/e2 --no-progress --no-report 2>&1 | head -3
echo "== $(date +%T) ogbg check"
N=20000 STEPS=30 timeout 50 python3 benchmarks/ogbg_gpu_check.py 2>&1 | tail -15
echo "== $(date +%T) librispeech check"
STEPS=2 timeout 55 python3 benchmarks/librispeech_gpu_check.py 2>&1 | tail -15
echo "== $(date +%T) done"
