/**
 * Nearest-key suggestions for unknown config keys: `intervall` gets `did you mean "interval"?`,
 * anything further away gets the list of keys that are valid at that level. The command line uses
 * them for unknown options and commands.
 */

/** Edit distance (insert, delete, substitute; one each) between two strings. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitute));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The candidate closest to `word` within `maxDistance` edits (a prefix of, or extension of, a
 * candidate counts as 2 edits); the earlier candidate wins a tie.
 */
export function nearest(word: string, candidates: readonly string[], maxDistance = 3): string | undefined {
  let best: string | undefined;
  let bestDistance = maxDistance + 1;
  for (const candidate of candidates) {
    // A truncated or extended name (maxPayload vs maxPayloadBytes) is a near miss too.
    const prefixed = word.length >= 4 && (candidate.startsWith(word) || word.startsWith(candidate));
    const distance = prefixed ? Math.min(2, levenshtein(word, candidate)) : levenshtein(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** The reason text for an unknown key, for example `unknown key (did you mean "interval"?)`. */
export function unknownKeyReason(key: string, valid: readonly string[]): string {
  const suggestion = nearest(key, valid);
  return suggestion === undefined
    ? `unknown key (valid keys: ${valid.join(', ')})`
    : `unknown key (did you mean "${suggestion}"?)`;
}

/**
 * The nearest candidate for a mistyped command-line word. A short word allows fewer edits, so a
 * two-letter typo is not "corrected" into an unrelated two-letter option.
 */
export function nearestWord(word: string, candidates: readonly string[]): string | undefined {
  return nearest(word, candidates, Math.min(3, Math.ceil(word.length / 2)));
}
