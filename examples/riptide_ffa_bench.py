# Times riptide (pip install riptide-ffa) on one dedispersed SIGPROC .tim searched NDM times with
# 2 worker processes, for the side-by-side with `cargo run --release --example ffa_bench` (same arguments):
#   python3 examples/riptide_ffa_bench.py SERIES.tim NDM PMIN PMAX BINS_MIN BINS_MAX
import sys, time, numpy as np
from multiprocessing import Pool
import riptide
from riptide import TimeSeries, ffa_search

def load_tim(path):
    b = open(path, 'rb').read()
    i = b.index(b'HEADER_END') + len('HEADER_END')
    # tsamp: find key 'tsamp' followed by a double
    j = b.index(b'tsamp') + len('tsamp')
    tsamp = np.frombuffer(b[j:j+8], dtype='<f8')[0]
    nbits_at = b.index(b'nbits') + len('nbits')
    nbits = np.frombuffer(b[nbits_at:nbits_at+4], dtype='<i4')[0]
    assert nbits == 32
    return np.frombuffer(b[i:], dtype='<f4').astype(np.float32), float(tsamp)

path, ndm, pmin, pmax, bmin, bmax = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
data, tsamp = load_tim(path)

def one(_):
    ts = TimeSeries.from_numpy_array(data, tsamp)
    _, pg = ffa_search(ts, period_min=pmin, period_max=pmax, bins_min=bmin, bins_max=bmax)
    s = pg.snrs.max(axis=1)
    i = int(np.argmax(s))
    return float(s[i]), float(pg.periods[i]), len(pg.periods), float(s.mean())

if __name__ == '__main__':
    nproc = 2
    t = time.time()
    with Pool(nproc) as p:
        res = p.map(one, range(ndm))
    wall = time.time() - t
    print(f"riptide {riptide.__version__}: {len(data)} samples of {tsamp*1e3:.6f} ms, {res[0][2]} trials per series; "
          f"{ndm} series in {wall:.2f} s ({wall/ndm:.3f} s each, {nproc} processes); best S/N {res[0][0]:.2f} at P {res[0][1]:.7f} s; mean trial S/N {res[0][3]:.3f}")
