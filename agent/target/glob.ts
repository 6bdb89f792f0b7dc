/**
 * A glob as a regular expression over paths relative to the release root: `*` and `?` stay
 * within one path segment, `**` crosses segments. Everything else matches itself.
 */
export const globToRegExp = (pattern: string): RegExp => {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` also matches no directory at all.
      const slash = pattern[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
};

export const matchesAny = (path: string, patterns: readonly RegExp[]) => patterns.some((p) => p.test(path));
