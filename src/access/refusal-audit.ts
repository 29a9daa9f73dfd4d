import type { AuditEvent } from './audit-trail';

/**
 * Refused webhooks go into the audit trail, but a sender without the secret decides how many it
 * sends, and must not be able to grow the trail (or slow it) at will. So the first refusal of a
 * kind (source and error code) is entered at once, and any further ones within the next minute
 * are entered as one summary with their count when the minute ends: at most two entries per
 * kind per minute, however hard the door is knocked on.
 */

const WINDOW_MS = 60_000;

interface Window {
  readonly startedAt: Date;
  further: number;
  readonly timer: NodeJS.Timeout;
}

export class RefusalAudit {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly deps: { record: (event: AuditEvent) => void; now: () => Date; windowMs?: number },
  ) {}

  refused(source: string, code: string): void {
    const key = `${source}\u0000${code}`;
    const open = this.windows.get(key);
    if (open) {
      open.further += 1;
      return;
    }
    this.deps.record({ actor: `webhook:${source}`, action: 'webhook.refused', details: { source, code, count: 1 } });
    const timer = setTimeout(() => this.close(key, source, code), this.deps.windowMs ?? WINDOW_MS);
    timer.unref();
    this.windows.set(key, { startedAt: this.deps.now(), further: 0, timer });
  }

  /** Enters what is still counted (at shutdown). */
  flush(): void {
    for (const key of [...this.windows.keys()]) {
      const [source, code] = key.split('\u0000') as [string, string];
      this.close(key, source, code);
    }
  }

  private close(key: string, source: string, code: string): void {
    const window = this.windows.get(key);
    if (!window) return;
    clearTimeout(window.timer);
    this.windows.delete(key);
    if (window.further > 0) {
      this.deps.record({
        actor: `webhook:${source}`,
        action: 'webhook.refused',
        details: { source, code, count: window.further, since: window.startedAt.toISOString(), until: this.deps.now().toISOString() },
      });
    }
  }
}
