/**
 * Sizes and durations as people read them in Kubernetes tools. Written by hand: the two rules are
 * a few lines each, and no npm library prints them as those tools do (pretty-bytes keeps three
 * significant digits, `2.63 MiB`, where Go's tools print `2.6 MiB`). Each follows the named Go
 * function; test/shared/units.test.ts holds their upstream tables.
 */

/**
 * apimachinery's duration.HumanDuration (k8s.io/apimachinery/pkg/util/duration): what `kubectl get
 * jobs` prints as DURATION and every AGE column: `45s`, `119s`, `2m1s`, `3h1m`, `2d1h`, `2y1d`.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    const y = Math.trunc(hours / 24 / 365);
    return dy === 0 ? `${y}y` : `${y}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/**
 * go-humanize's IBytes (github.com/dustin/go-humanize): binary units, two significant digits
 * rounded to a tenth, `803 B`, `9.8 KiB`, `257 MiB`, `1.0 GiB`.
 */
export function humanBytes(bytes: number): string {
  if (bytes < 10) return `${bytes} B`;
  // The unit by comparison, not Go's floor(log(n)/log(1024)): the same for every size, exactly.
  let e = 0;
  while (e < IEC.length - 1 && bytes >= 1024 ** (e + 1)) e++;
  const val = Math.floor((bytes / 1024 ** e) * 10 + 0.5) / 10;
  if (val < 10) return `${val.toFixed(1)} ${IEC[e]}`;
  // Go's %.0f: a tie (x.5, exact here) goes to the even neighbour.
  const whole = Math.floor(val);
  const frac = val - whole;
  const rounded = frac > 0.5 || (frac === 0.5 && whole % 2 === 1) ? whole + 1 : whole;
  return `${rounded} ${IEC[e]}`;
}
