/**
 * What our pages' scripts say on the page (`#passkey-status`, hidden until there is something to
 * say): a banner, announced to screen readers as an alert when something went wrong.
 */
export const statusLine = (status: HTMLElement | null) => (text: string, tone: 'info' | 'bad' = 'info') => {
  if (!status) return;
  status.textContent = text;
  status.className = `banner ${tone}`;
  status.setAttribute('role', tone === 'bad' ? 'alert' : 'status');
  status.hidden = false;
};

/** The reason a problem+json answer gives (detail, else title), or its HTTP status. */
export const problemOf = async (response: Response) => {
  try {
    const problem = (await response.json()) as { title?: string; detail?: string };
    return problem.detail ?? problem.title ?? `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
};
