import { AppError } from '../errors';

/**
 * How many ffmpeg conversions (exports, subject-access bundles) run at once in this process.
 * Each is a process using a core while it runs; past the limit the caller is told E_BUSY (503,
 * try again shortly) rather than every export slowing down together. Playback of the stored
 * file needs no conversion and takes no slot.
 */
export class TranscodeSlots {
  private active = 0;

  constructor(private readonly max: number) {}

  /** Takes a slot; the returned function gives it back (once, however often it is called). */
  take(): () => void {
    if (this.active >= this.max) throw new AppError('E_BUSY', `${this.active} exports are being converted; try again shortly`);
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
    };
  }
}
