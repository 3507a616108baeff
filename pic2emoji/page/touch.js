// The live camera's colour touch-up for one band of the grid: live.TouchUp in Python, which the tests
// hold this to. The net knows an emoji's structure, not how its colour reads from a step back (a still
// camera on flat dark green was drawn as ⬛); refine (refine.py) gives the command line that sense by
// ICM over the whole mosaic. Here, each frame, the cells that moved go through one sweep of the same
// ICM at a fixed strength: each takes, among [the net's TOP for it, what it shows, the emoji nearest
// its colour (colours.bin, live.colour_table)], the one that minimises
//   structure / 36 + texture · (1 − cs) + mean · |Δ cell colour|²
//     + colour · Σ CIEDE2000(mean of each 2×2-cell window it is in, the camera's window)²
//     + edge · Σ over its neighbours (its luma error − theirs)²
// in four interleaved sub-grids (no two cells updated together share a window or are neighbours).
// The other cells hold, and count in their windows. refine.py's docstring says why each term. Its parts
// (terms, colours, sweep) also serve settle.js, refine's whole ladder on a still camera.

const LUMA = [0.299, 0.587, 0.114];
const SRGB_TO_XYZ = [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]];
const WHITE = [0.95047, 1.0, 1.08883];
const TAU = 2 * Math.PI, mod = (x, m) => ((x % m) + m) % m;  // numpy's % (floored)

// sRGB in 0..255 -> CIELAB (D65), as colour.srgb_to_lab: into out[at..at+2].
const [M0, M1, M2] = SRGB_TO_XYZ.map((row, i) => row.map((m) => m / WHITE[i]));  // rows scaled by the white
const EDGE = (6 / 29) ** 3, SLOPE = 3 * (6 / 29) ** 2;
const exact = (v) => { const c = v / 255; return c > 0.04045 ? ((c + 0.055) / 1.055) ** 2.4 : c / 12.92; };
const FINE = 64, LINEAR = Float64Array.from({length: 255 * FINE + 2}, (_, j) => exact(j / FINE));  // 1/64 of a level apart
const decode = (v) => {  // exact() interpolated from the table: within 1e-7 of it, as close as numpy's float32 is
  const x = Math.min(Math.max(v, 0), 255) * FINE, j = Math.floor(x);
  return LINEAR[j] + (LINEAR[j + 1] - LINEAR[j]) * (x - j);
};
const bend = (t) => (t > EDGE ? Math.cbrt(t) : t / SLOPE + 4 / 29);
export function srgbToLab(r, g, b, out, at = 0) {
  const lr = decode(r), lg = decode(g), lb = decode(b);
  const fx = bend(M0[0] * lr + M0[1] * lg + M0[2] * lb), fy = bend(M1[0] * lr + M1[1] * lg + M1[2] * lb);
  const fz = bend(M2[0] * lr + M2[1] * lg + M2[2] * lb);
  out[at] = 116 * fy - 16;
  out[at + 1] = 500 * (fx - fy);
  out[at + 2] = 200 * (fy - fz);
}

// CIEDE2000 between two CIELAB colours, as colour.delta_e2000 (c2: the second's chroma, hypot(a2, b2)).
const POW25_7 = 25 ** 7, DEG = 180 / Math.PI;
const [COS30, SIN30, COS6, SIN6, COS63, SIN63] = [Math.PI / 6, Math.PI / 30, 0.35 * Math.PI].flatMap((a) => [Math.cos(a), Math.sin(a)]);
export function deltaE2000(l1, a1, b1, l2, a2, b2, c2 = Math.sqrt(a2 * a2 + b2 * b2)) {
  const mean = (Math.sqrt(a1 * a1 + b1 * b1) + c2) / 2, mean7 = mean * mean * mean * mean * mean * mean * mean;
  const stretch = 1.5 - 0.5 * Math.sqrt(mean7 / (mean7 + POW25_7));
  a1 *= stretch;
  a2 *= stretch;
  const C1 = Math.sqrt(a1 * a1 + b1 * b1), C2 = Math.sqrt(a2 * a2 + b2 * b2), chromatic = C1 * C2 !== 0;
  const h1 = mod(Math.atan2(b1, a1), TAU), h2 = mod(Math.atan2(b2, a2), TAU);
  const dh = chromatic ? mod(h2 - h1 + Math.PI, TAU) - Math.PI : 0;
  const h = chromatic ? h1 + dh / 2 : h1 + h2;
  const l = (l1 + l2) / 2 - 50, c = (C1 + C2) / 2, c7 = c * c * c * c * c * c * c;
  // 1 − 0.17 cos(h − 30°) + 0.24 cos 2h + 0.32 cos(3h + 6°) − 0.2 cos(4h − 63°), from cos h and sin h alone
  const ch = Math.cos(h), sh = Math.sin(h), c2h = 2 * ch * ch - 1, s2h = 2 * sh * ch;
  const c3h = ch * (4 * ch * ch - 3), s3h = sh * (3 - 4 * sh * sh), c4h = 2 * c2h * c2h - 1, s4h = 2 * s2h * c2h;
  const t = 1 - 0.17 * (ch * COS30 + sh * SIN30) + 0.24 * c2h + 0.32 * (c3h * COS6 - s3h * SIN6) - 0.2 * (c4h * COS63 + s4h * SIN63);
  const turn = (mod(h * DEG, 360) - 275) / 25;
  const rotation = -Math.sin(Math.PI / 3 * Math.exp(-turn * turn)) * 2 * Math.sqrt(c7 / (c7 + POW25_7));
  const dl = (l2 - l1) / (1 + 0.015 * l * l / Math.sqrt(20 + l * l));
  const dc = (C2 - C1) / (1 + 0.045 * c);
  const dhue = 2 * Math.sqrt(C1 * C2) * Math.sin(dh / 2) / (1 + 0.015 * c * t);
  return Math.sqrt(Math.max(dl * dl + dc * dc + dhue * dhue + rotation * dc * dhue, 0));
}

export class TouchUp {
  // classViews: (classes, viewSize) as views.bin; table: colours.bin; settings: config.json's touch.
  constructor(classViews, table, settings, viewSize) {
    const blocks = viewSize / 3, n = classViews.length / viewSize, size = viewSize + blocks;
    Object.assign(this, {table, settings, viewSize, blocks, size});
    this.means = new Float64Array(n * 3);
    this.lumas = new Float64Array(n);
    this.greys = new Float32Array(n * blocks);  // each class's 6×6 greys less their mean
    this.features = new Float32Array(n * size);  // refine's structure term's: the view, then √pattern · greys
    for (let c = 0; c < n; c++) this.describe(classViews, c, this.means, this.lumas, this.greys, this.features, c);
  }

  // A view's colour and luma (into means and lumas at slot c), and with `greys` its grey pattern and
  // structure features (at slot g).
  describe(views, i, means, lumas, greys = null, features = null, g = 0) {
    const {blocks, viewSize, size} = this, at = i * viewSize;
    let r = 0, gr = 0, b = 0;
    for (let q = 0; q < blocks; q++) { r += views[at + q * 3]; gr += views[at + q * 3 + 1]; b += views[at + q * 3 + 2]; }
    means[i * 3] = r / blocks;
    means[i * 3 + 1] = gr / blocks;
    means[i * 3 + 2] = b / blocks;
    lumas[i] = means[i * 3] * LUMA[0] + means[i * 3 + 1] * LUMA[1] + means[i * 3 + 2] * LUMA[2];
    if (!greys) return;
    const root = Math.sqrt(this.settings.pattern);
    let mean = 0;
    for (let q = 0; q < blocks; q++) {
      const grey = views[at + q * 3] * LUMA[0] + views[at + q * 3 + 1] * LUMA[1] + views[at + q * 3 + 2] * LUMA[2];
      greys[g * blocks + q] = grey;
      mean += grey;
    }
    mean /= blocks;
    for (let j = 0; j < viewSize; j++) features[g * size + j] = views[at + j];
    for (let q = 0; q < blocks; q++) {
      greys[g * blocks + q] -= mean;
      features[g * size + viewSize + q] = greys[g * blocks + q] * root;
    }
  }

  // The band's `classes` (rows·cols, in place) after the sweep: `views` the cells' views, `top` the net's
  // TOP classes (t a cell), `moved` the indices of the cells that may change.
  run(views, classes, top, t, cols, moved) {
    const {settings, table} = this, n = classes.length, k = t + 2, steps = settings.levels;
    const {means, lumas, target} = this.colours(views, n / cols, cols);
    const candidates = new Int32Array(moved.length * k);
    const step = (v) => Math.min(steps - 1, Math.max(0, Math.floor(v * steps / 256)));
    moved.forEach((i, m) => {
      for (let q = 0; q < t; q++) candidates[m * k + q] = top[i * t + q];
      candidates[m * k + t] = classes[i];
      candidates[m * k + t + 1] = table[(step(means[i * 3]) * steps + step(means[i * 3 + 1])) * steps + step(means[i * 3 + 2])];
    });
    const unary = TouchUp.unary(this.terms(views, moved, candidates, k), settings);
    this.sweep(classes, cols, moved, candidates, unary, k, target, lumas, settings.colour);
  }

  // Refine's terms of the cells `which` (their views in `views`) for their k candidates each (candidates:
  // which.length·k): structure / 36, 1 − cs (SSIM's contrast-structure factor), |Δ cell colour|².
  terms(views, which, candidates, k) {
    const {blocks, size} = this, n = views.length / this.viewSize;
    const structure = new Float64Array(which.length * k), texture = new Float64Array(which.length * k);
    const mean = new Float64Array(which.length * k), means = new Float64Array(n * 3), lumas = new Float64Array(n);
    const greys = new Float64Array(blocks), features = new Float64Array(size);
    const F = this.features, G = this.greys, M = this.means, c2 = blocks * (0.03 * 255) ** 2;
    which.forEach((i, m) => {
      this.describe(views, i, means, lumas, greys, features, 0);
      let photoGrey = 0;
      for (let q = 0; q < blocks; q++) photoGrey += greys[q] * greys[q];
      for (let a = 0, at = m * k; a < k; a++, at++) {
        const c = candidates[at], f = c * size, gc = c * blocks, mc = c * 3;
        let same = 0;
        while (same < a && candidates[m * k + same] !== c) same++;
        if (same < a) {  // a class twice: the same terms
          [structure, texture, mean].forEach((term) => { term[at] = term[m * k + same]; });
          continue;
        }
        let distance = 0, cross = 0, tileGrey = 0, colour = 0;
        for (let j = 0; j < size; j++) { const d = features[j] - F[f + j]; distance += d * d; }
        for (let q = 0; q < blocks; q++) { const tg = G[gc + q]; cross += greys[q] * tg; tileGrey += tg * tg; }
        for (let j = 0; j < 3; j++) { const d = M[mc + j] - means[i * 3 + j]; colour += d * d; }
        structure[at] = distance / blocks;
        texture[at] = 1 - (2 * cross + c2) / (photoGrey + tileGrey + c2);
        mean[at] = colour;
      }
    });
    return {structure, texture, mean};
  }

  // The cost alone of each candidate at one strength ({texture, mean}: refine's Strength).
  static unary({structure, texture, mean}, strength) {
    return structure.map((s, j) => s + strength.texture * texture[j] + strength.mean * mean[j]);
  }

  // Each cell's colour and luma from its view, and the camera's colour of each 2×2-cell window in CIELAB
  // with its chroma (4 numbers a window).
  colours(views, rows, cols) {
    const n = rows * cols, means = new Float64Array(n * 3), lumas = new Float64Array(n);
    for (let i = 0; i < n; i++) this.describe(views, i, means, lumas);
    const w = cols - 1, target = new Float64Array(Math.max(rows - 1, 0) * w * 4);
    for (let r = 0; r < rows - 1; r++) {
      for (let c = 0; c < w; c++) {
        const a = r * cols + c, sum = (j) => means[a * 3 + j] + means[(a + 1) * 3 + j] + means[(a + cols) * 3 + j] + means[(a + cols + 1) * 3 + j];
        const at = (r * w + c) * 4;
        srgbToLab(sum(0) / 4, sum(1) / 4, sum(2) / 4, target, at);
        target[at + 3] = Math.sqrt(target[at + 1] ** 2 + target[at + 2] ** 2);
      }
    }
    return {means, lumas, target};
  }

  // One ICM sweep, sub-grid by sub-grid (refine.Refiner.icm), at colour weight `colour`.
  sweep(classes, cols, moved, candidates, unary, k, target, lumas, colour) {
    const {settings} = this, rows = classes.length / cols, w = cols - 1, lab = new Float64Array(3);
    const error = (i) => this.lumas[classes[i]] - lumas[i];  // a cell's luma error as it is now
    const windows = new Int32Array(4), others = new Float64Array(12);  // a cell's windows, their other cells' colour sums
    const order = new Int32Array(k), bound = new Float64Array(k);
    for (const [a, b] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
      moved.forEach((i, m) => {
        const r = Math.floor(i / cols), c = i % cols;
        if (r % 2 !== a || c % 2 !== b) return;
        let neighbours = 0, around = 0, count = 0;
        if (r > 0) { neighbours++; around += error(i - cols); }
        if (r < rows - 1) { neighbours++; around += error(i + cols); }
        if (c > 0) { neighbours++; around += error(i - 1); }
        if (c < cols - 1) { neighbours++; around += error(i + 1); }
        for (let y = Math.max(r - 1, 0); y <= Math.min(r, rows - 2); y++) {
          for (let x = Math.max(c - 1, 0); x <= Math.min(c, cols - 2); x++) {
            const corner = y * cols + x, o = count * 3;
            others[o] = others[o + 1] = others[o + 2] = 0;
            for (let e = 0; e < 4; e++) {
              const cell = corner + (e & 1) + (e >> 1) * cols;
              if (cell === i) continue;
              const mc = classes[cell] * 3;
              others[o] += this.means[mc];
              others[o + 1] += this.means[mc + 1];
              others[o + 2] += this.means[mc + 2];
            }
            windows[count++] = (y * w + x) * 4;
          }
        }
        // the candidates by their cost without the colour term, which only adds: the likely best first, and
        // the others left as soon as their cost passes the best's (the same pick as trying all: refine's)
        for (let q = 0; q < k; q++) {
          const e = this.lumas[candidates[m * k + q]] - lumas[i];
          bound[q] = unary[m * k + q] + settings.edge * (neighbours * e * e - 2 * e * around);
          let p = q;
          while (p > 0 && bound[order[p - 1]] > bound[q]) { order[p] = order[p - 1]; p--; }
          order[p] = q;
        }
        let best = -1, lowest = Infinity;
        for (let s = 0; s < k; s++) {
          const q = order[s], candidate = candidates[m * k + q];
          if (bound[q] > lowest) break;  // no later one can do better
          if (bound[q] === lowest && q > best) continue;  // at best a tie, which the first one wins
          let cost = bound[q];
          const mc = candidate * 3;
          for (let v = 0; v < count && cost <= lowest; v++) {
            const o = v * 3, at = windows[v];
            srgbToLab((others[o] + this.means[mc]) / 4, (others[o + 1] + this.means[mc + 1]) / 4, (others[o + 2] + this.means[mc + 2]) / 4, lab);
            const e = deltaE2000(lab[0], lab[1], lab[2], target[at], target[at + 1], target[at + 2], target[at + 3]);
            cost += colour * e * e;
          }
          if (cost < lowest || (cost === lowest && q < best)) { lowest = cost; best = q; }  // ties: the first, as argmin
        }
        classes[i] = candidates[m * k + best];
      });
    }
  }
}
