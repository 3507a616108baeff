// A still camera's grid settled: live.settle in Python, which the tests hold this to. Each frame the page
// touches up the cells that moved with one sweep of refine's ICM at a fixed strength (touch.js). Once
// the camera has been still a few frames, a spare worker computes what the command line would draw
// (refine.py): each cell's k nearest emoji by the structure term, the net's pick among them, ICM sweeps
// at each strength of refine's ladder, each mosaic judged against the nearest-colour lookup by
// `estimate` (quality.estimate: dE@2, cell-PSNR, SSIM@6 from the views). The page takes refine's mosaic
// where it is nearer the camera's colours from a step back (dE@2) than its own grid.

import {deltaE2000, srgbToLab, TouchUp} from "./touch.js";

const LUMA = [0.299, 0.587, 0.114], VIEW = 6;
const GAUSS = (() => {  // SSIM's window: 11 taps, sigma 1.5, summing to 1
  const g = Array.from({length: 11}, (_, j) => Math.exp(-0.5 * ((j - 5) / 1.5) ** 2)), sum = g.reduce((a, b) => a + b);
  return g.map((x) => x / sum);
})();

export class Settle {
  // touch: the worker's TouchUp (the classes' views, features and colours); settings: config.json's
  // settle (k, sweeps, strengths, first, goal, keep); allowed: the classes of the palette, ascending.
  constructor(touch, settings, allowed) {
    Object.assign(this, {touch, settings, allowed: Int32Array.from(allowed)});
    const {features, size, viewSize} = touch, n = features.length / size;
    this.halfFeatures = new Float64Array(n);  // half the squared norm of each class's structure features
    this.halfViews = new Float64Array(n);  // ... and of its view alone (the lookup's)
    for (let c = 0; c < n; c++) {
      let all = 0, view = 0;
      for (let j = 0; j < size; j++) { const x = features[c * size + j]; all += x * x; if (j < viewSize) view += x * x; }
      this.halfFeatures[c] = all / 2;
      this.halfViews[c] = view / 2;
    }
  }

  // The grid to show, (rows·cols): refine's mosaic of the cells' `views` from the net's picks `start`
  // where it is nearer in dE@2 than `grid` (the page's own), else `grid`.
  run(views, start, grid, rows, cols) {
    const photo = this.photo(views, rows, cols), refined = this.refine(views, start, rows, cols, photo);
    return this.estimate(photo, refined).de2 < this.estimate(photo, grid).de2 ? refined : grid;
  }

  // refine.Refiner.frame: the rung its search ends on, else the lookup's grid (photo: this.photo's).
  refine(views, start, rows, cols, photo) {
    const {touch, settings} = this, n = rows * cols, all = Int32Array.from({length: n}, (_, i) => i);
    if (rows < 2 || cols < 2 || !settings.strengths.length) return Int32Array.from(start);
    const {candidates, k, lookup} = this.nearest(views, start, n), terms = touch.terms(views, all, candidates, k);
    const {lumas, target} = touch.colours(views, rows, cols);
    const floor = this.estimate(photo, lookup), [ssimKeep, psnrKeep] = settings.keep;
    const judged = (rung) => {  // the rung's grid; its dE@2 (null where not kept); whether SSIM@6 held; whether nearer
      const strength = settings.strengths[rung], unary = TouchUp.unary(terms, strength), grid = Int32Array.from(start);
      for (let s = 0; s < (strength.colour ? settings.sweeps : 0); s++) {
        touch.sweep(grid, cols, all, candidates, unary, k, target, lumas, strength.colour);
      }
      const scores = this.estimate(photo, grid), holds = scores.ssim6 >= floor.ssim6 - ssimKeep, nearer = scores.de2 < floor.de2;
      return {grid, rung, de2: holds && nearer && scores.cellPsnr >= floor.cellPsnr - psnrKeep ? scores.de2 : null, holds, nearer};
    };
    return this.search(judged, floor.de2) || lookup;
  }

  // refine.Refiner.search: from the first rung, up the ladder while short of the goal and kept, down where
  // too much colour lost structure, up where too little gained nothing; null: no rung kept.
  search(judged, floor) {
    const {first, goal, strengths} = this.settings;
    const climb = (best) => {
      for (let up = best.rung - 1; up >= 0 && best.de2 > goal * floor; up--) {
        const next = judged(up);
        if (next.de2 === null) break;
        if (next.de2 < best.de2) best = next;
      }
      return best.grid;
    };
    let tried = judged(first);
    if (tried.de2 !== null) return climb(tried);
    if (tried.holds && !tried.nearer) {  // too little colour to gain anything: up while the structure holds
      for (let rung = first - 1; rung >= 0; rung--) {
        tried = judged(rung);
        if (tried.de2 !== null) return climb(tried);
        if (!tried.holds) break;
      }
      return null;
    }
    for (let rung = first + 1; rung < strengths.length; rung++) {  // too much colour: down to the first kept
      tried = judged(rung);
      if (tried.de2 !== null) return tried.grid;
    }
    return null;
  }

  // Each cell's k nearest allowed classes by the structure term (motion.nearest_k), in class order, the
  // net's pick in place of the furthest where it is not among them: candidates (n·k); and in the same
  // pass (a view is the first part of the structure features) the nearest-colour lookup (views.Nearest).
  nearest(views, start, n) {
    const {touch, allowed, halfFeatures, halfViews} = this, {features, size, viewSize, blocks} = touch;
    const k = Math.min(this.settings.k, allowed.length), lookup = new Int32Array(n);
    const candidates = new Int32Array(n * k), scores = new Float64Array(k), classes = new Int32Array(k);
    const own = new Float64Array(size), greys = new Float64Array(blocks), means = new Float64Array(n * 3), lumas = new Float64Array(n);
    const score = (c) => {
      let dot = 0;
      for (let j = 0, f = c * size; j < size; j++) dot += own[j] * features[f + j];
      return dot - halfFeatures[c];
    };
    for (let i = 0; i < n; i++) {
      touch.describe(views, i, means, lumas, greys, own, 0);
      let count = 0, highest = -Infinity;  // the best so far, their scores ascending; the lookup's best
      for (const c of allowed) {
        let dot = 0, j = 0;
        for (let f = c * size; j < viewSize; j++) dot += own[j] * features[f + j];
        if (dot - halfViews[c] > highest) { highest = dot - halfViews[c]; lookup[i] = c; }
        for (let f = c * size; j < size; j++) dot += own[j] * features[f + j];
        const s = dot - halfFeatures[c];
        if (count === k && s <= scores[0]) continue;
        let p;
        if (count < k) {  // room: in at its place
          for (p = count++; p > 0 && scores[p - 1] > s; p--) { scores[p] = scores[p - 1]; classes[p] = classes[p - 1]; }
        } else {  // full: the lowest out, the rest down to its place
          for (p = 0; p + 1 < k && scores[p + 1] < s; p++) { scores[p] = scores[p + 1]; classes[p] = classes[p + 1]; }
        }
        scores[p] = s;
        classes[p] = c;
      }
      const top = Array.from(classes.subarray(0, k)).sort((a, b) => a - b);
      if (!top.includes(start[i])) {
        let worst = 0, lowest = Infinity;
        top.forEach((c, q) => { const s = score(c); if (s < lowest) { lowest = s; worst = q; } });
        top[worst] = start[i];
      }
      candidates.set(top, i * k);
    }
    return {candidates, k, lookup};
  }

  // What estimate needs of the camera: each cell's colour, its 2×2-cell blocks in CIELAB, its greys at 6 px a cell.
  photo(views, rows, cols) {
    const means = new Float64Array(rows * cols * 3), lumas = new Float64Array(rows * cols);
    for (let i = 0; i < rows * cols; i++) this.touch.describe(views, i, means, lumas);
    const view = (i, j) => views[i * this.touch.viewSize + j];
    return {rows, cols, means, labs: this.blockLabs(means, rows, cols), greys: greyImage(view, rows, cols)};
  }

  // quality.estimate: dE@2, cell-PSNR and SSIM@6 of a grid against the camera (photo()).
  estimate(photo, grid) {
    const {rows, cols} = photo, {means: classMeans, features, size} = this.touch, n = rows * cols;
    const means = new Float64Array(n * 3);
    for (let i = 0; i < n; i++) for (let j = 0; j < 3; j++) means[i * 3 + j] = classMeans[grid[i] * 3 + j];
    const labs = this.blockLabs(means, rows, cols);
    let de = 0, squares = 0;
    for (let b = 0; b < labs.length; b += 3) {
      de += deltaE2000(photo.labs[b], photo.labs[b + 1], photo.labs[b + 2], labs[b], labs[b + 1], labs[b + 2]);
    }
    for (let j = 0; j < n * 3; j++) squares += (photo.means[j] - means[j]) ** 2;
    const greys = greyImage((i, j) => features[grid[i] * size + j], rows, cols);
    return {de2: de / (labs.length / 3), cellPsnr: 10 * Math.log10(255 ** 2 / Math.max(squares / (n * 3), 1e-10)),
            ssim6: ssim(photo.greys, greys, rows * VIEW, cols * VIEW)};
  }

  // The colours of the 2×2-cell blocks (a partial last row or column of cells left out) in CIELAB.
  blockLabs(means, rows, cols) {
    const h = Math.floor(rows / 2), w = Math.floor(cols / 2), labs = new Float64Array(h * w * 3);
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const a = 2 * r * cols + 2 * c, sum = (j) => means[a * 3 + j] + means[(a + 1) * 3 + j] + means[(a + cols) * 3 + j] + means[(a + cols + 1) * 3 + j];
        srgbToLab(sum(0) / 4, sum(1) / 4, sum(2) / 4, labs, (r * w + c) * 3);
      }
    }
    return labs;
  }
}

// A grid's cells as one grey image of 6×6 px a cell (views.grey_views); view(i, j): number j of cell i's view.
function greyImage(view, rows, cols) {
  const width = cols * VIEW, image = new Float64Array(rows * VIEW * width);
  for (let i = 0; i < rows * cols; i++) {
    const top = Math.floor(i / cols) * VIEW, left = (i % cols) * VIEW;
    for (let q = 0; q < VIEW * VIEW; q++) {
      image[(top + Math.floor(q / VIEW)) * width + left + q % VIEW] =
        view(i, q * 3) * LUMA[0] + view(i, q * 3 + 1) * LUMA[1] + view(i, q * 3 + 2) * LUMA[2];
    }
  }
  return image;
}

// quality.ssim: mean SSIM of two grey images (Gaussian window, "valid": each output from a window wholly inside).
function ssim(a, b, height, width) {
  const blur = (x) => {  // 11 taps down the columns, then along the rows
    const h = height - 10, w = width - 10, down = new Float64Array(h * width), out = new Float64Array(h * w);
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < width; c++) { let s = 0; for (let t = 0; t < 11; t++) s += x[(r + t) * width + c] * GAUSS[t]; down[r * width + c] = s; }
    }
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) { let s = 0; for (let t = 0; t < 11; t++) s += down[r * width + c + t] * GAUSS[t]; out[r * w + c] = s; }
    }
    return out;
  };
  const ma = blur(a), mb = blur(b), aa = blur(a.map((x) => x * x)), bb = blur(b.map((x) => x * x));
  const ab = blur(a.map((x, j) => x * b[j])), c1 = (0.01 * 255) ** 2, c2 = (0.03 * 255) ** 2;
  let sum = 0;
  for (let j = 0; j < ma.length; j++) {
    const va = aa[j] - ma[j] ** 2, vb = bb[j] - mb[j] ** 2, cov = ab[j] - ma[j] * mb[j];
    sum += (2 * ma[j] * mb[j] + c1) * (2 * cov + c2) / ((ma[j] ** 2 + mb[j] ** 2 + c1) * (va + vb + c2));
  }
  return sum / ma.length;
}
