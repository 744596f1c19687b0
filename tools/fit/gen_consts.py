from remez import *
import numpy as np, struct
mp.mp.dps = 50
out_rs, out_wg = [], []
def f32v(x): return np.float32(float(x)) if abs(x) > 1e-30 else np.float32(float(x))
def f32_exact(x):
    # correctly rounded f32 of an mpf (via float64 is double rounding; do it carefully)
    d = float(x)
    f = np.float32(d)
    # fix double rounding: compare neighbours exactly
    cands = [np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))]
    best = min(cands, key=lambda c: abs(mp.mpf(float(c)) - x))
    return best
def wg(v):
    v = float(v)
    if v == 0: return '0.0'
    h = v.hex()  # like 0x1.5555560000000p-3
    sign = '-' if h.startswith('-') else ''
    h = h.lstrip('-')
    mant, exp = h.split('p')
    mant = mant.rstrip('0').rstrip('.')
    if mant == '0x1': mant = '0x1.0'
    return f"{sign}{mant}p{int(exp)}f"
def rs(v):
    s = repr(np.float32(v))  # np.float32(0.16666667)
    s = s[len('np.float32('):-1]
    if 'e' not in s and '.' not in s: s += '.0'
    return s
def const(name, v, comment=''):
    v = np.float32(v)
    c = f"  // {comment}" if comment else ''
    out_rs.append(f"const {name}: f32 = {rs(v)};{c}")
    out_wg.append(f"const {name}: f32 = {wg(v)};{c}")
def split(name, x, comment=''):
    hi = f32_exact(x)
    lo = f32_exact(x - mp.mpf(float(hi)))
    const(name + '_HI', hi, comment)
    const(name + '_LO', lo)
def poly(name, coefs, comment='', exact=()):
    for i, c in enumerate(coefs):
        if i in exact:
            split(f"{name}{i}", c, comment if i == 0 else '')
        else:
            const(f"{name}{i}", f32_exact(c), comment if i == 0 else '')

const('LOG2E', f32_exact(1/mp.log(2)), 'log2(e)')
C1 = np.float32(0.693145751953125)
const('LN2_C1', C1, 'ln 2 = LN2_C1 + LN2_C2 (+5.5e-14): C1 has 15 bits, k*C1 is exact for |k| < 512')
const('LN2_C2', f32_exact(mp.log(2) - mp.mpf(float(C1))))
split('FRAC_1_SQRT2', 1/mp.sqrt(2), '1/sqrt(2)')
split('FRAC_1_SQRT_2PI', 1/mp.sqrt(2*mp.pi), '1/sqrt(2 pi)')
split('GELU_TANH_K1', 2*mp.sqrt(2/mp.pi), '2 sqrt(2/pi)')
split('GELU_TANH_K3', 2*mp.sqrt(2/mp.pi)*mp.mpf('0.044715'), '2 sqrt(2/pi) 0.044715')
split('QUICK_GELU_C', mp.mpf('1.702'), '1.702')
SA = mp.mpf('1.6732632423543772848170429916717')
SS = mp.mpf('1.0507009873554804934193349852946')
split('SELU_SCALE', SS, 'selu scale')
split('SELU_SA', SS*SA, 'selu scale*alpha')
const('INV6', f32_exact(mp.mpf(1)/6), '1/6')
# selu overflow: smallest f32 x with RN(scale*x) = inf, i.e. scale*x >= 2^128 (1 - 2^-25)
thr = mp.mpf(2)**128 * (1 - mp.mpf(2)**-25) / SS
f = f32_exact(thr)
while mp.mpf(float(f)) * SS < mp.mpf(2)**128 * (1 - mp.mpf(2)**-25): f = np.nextafter(f, np.float32(np.inf))
while mp.mpf(float(np.nextafter(f, np.float32(0)))) * SS >= mp.mpf(2)**128 * (1 - mp.mpf(2)**-25): f = np.nextafter(f, np.float32(0))
const('SELU_OVERFLOW', f, 'smallest x with scale*x rounding to inf')
# exp overflow: largest x with exp(x) < 2^128(1-2^-25)
lim = mp.log(mp.mpf(2)**128 * (1 - mp.mpf(2)**-25))
f = f32_exact(lim)
while mp.mpf(float(f)) >= lim: f = np.nextafter(f, np.float32(0))
const('EXP_MAX', f, 'largest x with exp(x) finite in f32')
# polynomials
L = mp.log(2)/2 * mp.mpf('1.02')
def P(r):
    if abs(r) < mp.mpf('1e-12'): return mp.mpf(1)/2 + r/6
    return (mp.exp(r) - 1 - r) / r**2
m, c = fit_f32(P, list(range(6)), -L, L, w=lambda x: abs(x) + mp.mpf('1e-30'), n_grid=3000)
print('exp', float(mp.log(m,2)))
poly('EXP_P', c, 'exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2')
X = mp.atanh(mp.mpf('0.5'))
const('TANH_POLY_MAX', f32_exact(X), 'tanh(x) = 1/2 here: polynomial below, 1 - 2u/(1+u) above')
def T(s):
    x = mp.sqrt(s)
    if s < mp.mpf('1e-20'): return mp.mpf(-1)/3
    return (mp.tanh(x) - x)/x**3
m, c = fit_f32(T, list(range(5)), 0, X**2*mp.mpf('1.01'), w=lambda s: (s * mp.sqrt(s)/mp.tanh(mp.sqrt(s)) if s>0 else mp.mpf(0)) + mp.mpf('1e-12'), n_grid=2000)
print('tanh', float(mp.log(m,2)))
poly('TANH_P', c, 'tanh(x) = x + x^3 P(x^2), |x| <= TANH_POLY_MAX')
def S(s):
    x = mp.sqrt(s)
    if s < mp.mpf('1e-20'): return mp.mpf(1)/3
    return (x - mp.tanh(x))/x**3
m, c = fit_f32(S, list(range(8)), 0, 1, w=lambda s: 1/S(s), n_grid=2000, keep_exact=(0, 1))
print('tanhshrink', float(mp.log(m,2)))
poly('TANHSHRINK_P', c, 'x - tanh(x) = x^3 P(x^2), |x| <= 1 (P0, P1 double-float)', exact=(0, 1))
smax = (mp.sqrt(2)-1)/(mp.sqrt(2)+1) * mp.mpf('1.01')
def R(z):
    s = mp.sqrt(z)
    if z < mp.mpf('1e-30'): return 2*z/3
    return (2*mp.atanh(s) - 2*s)/s
m, c = fit_f32(R, list(range(1,4)), 0, smax**2, w=lambda z: mp.sqrt(z)+mp.mpf('1e-20'), n_grid=2000)
print('log', float(mp.log(m,2)))
poly('LOG_R', [0] + c, 'log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f/(2+f); R0 unused')
out_rs.pop(-4); out_wg.pop(-4)  # drop LOG_R0
XE = mp.mpf('0.9375')
def E(s):
    x = mp.sqrt(s)
    if s < mp.mpf('1e-30'): return 2/mp.sqrt(mp.pi)
    return mp.erf(x)/x
m, c = fit_f32(E, list(range(7)), 0, XE**2, w=lambda s: 1/E(s), n_grid=2000, keep_exact=(0,))
print('erf', float(mp.log(m,2)))
poly('ERF_P', c, 'erf(x) = x P(x^2), |x| < 0.9375 (P0 double-float)', exact=(0,))
K = mp.mpf(3); AMAX = mp.mpf('13.5')
def F(q):
    if q <= -1: return mp.mpf(0)
    a = K*(1+q)/(1-q)
    return (1+2*a)*mp.erfc(a)*mp.exp(a*a) - 1
def Ft(q):
    if q <= -1 + mp.mpf('1e-20'): return mp.diff(F, -1 + mp.mpf('1e-15'))
    return F(q)/(1+q)
m, c = fit_f32(Ft, list(range(11)), -1, (AMAX-K)/(AMAX+K), w=lambda q: (1+q+mp.mpf('1e-4'))/(1+F(q)), n_grid=1500)
print('erfc', float(mp.log(m,2)))
poly('ERFC_P', c, '(1+2a) e^(a^2) erfc(a) = 1 + v P(v - 1), v = 2a/(a+3), 0 <= a <= 13.5')
sig = lambda z: 1/(1+mp.exp(-z))
S_ = lambda z: sig(z)*(1 + z*sig(-z))
G_ = lambda x: mp.erfc(-x/mp.sqrt(2))/2 + x*mp.exp(-x*x/2)/mp.sqrt(2*mp.pi)
K1 = 2*mp.sqrt(2/mp.pi); K3 = K1*mp.mpf('0.044715')
GT_ = lambda x: sig(K1*x+K3*x**3)*(1 + x*(K1+3*K3*x*x)*sig(-(K1*x+K3*x**3)))
def M_(x):
    t = mp.tanh(mp.log(1+mp.exp(x)))
    return t + x*sig(x)*(1-t*t)
W = mp.mpf('0.5')
for name, f, g, deg, what, lo, hi in [('SWISH_ROOT', S_, -1.28, 8, "d/dz z sigma(z) = d Q(d), d = z - z0, -1/2 <= d <= 1/2", -W, W), ('GELU_ROOT', G_, -0.75, 9, "gelu'(x) = d Q(d), d = x - x0, -1/2 <= d <= 1/2", -W, W),
                        ('GELU_TANH_ROOT', GT_, -0.75, 9, "gelu_tanh'(x) = d Q(d), d = x - x0, -1/2 <= d <= 1/2", -W, W), ('MISH_ROOT', M_, -1.19, 10, "mish'(x) = d Q(d), d = x - x0, -1/2 <= d <= 0.8", -W, mp.mpf('0.8'))]:
    r = mp.findroot(f, g)
    Q = lambda d, f=f, r=r: (f(r + d)/d) if abs(d) > mp.mpf('1e-25') else mp.diff(f, r)
    split(name, r, 'root of the derivative')
    m, c = fit_f32(Q, list(range(deg+1)), lo, hi, w=lambda d: 1/abs(Q(d)), n_grid=800, keep_exact=(0, 1))
    print(name, float(mp.log(m,2)))
    poly(name + '_Q', c, what + ' (Q0, Q1 double-float)', exact=(0, 1))
open('consts.rs.txt','w').write('\n'.join(out_rs)+'\n')
open('consts.wgsl.txt','w').write('\n'.join(out_wg)+'\n')
