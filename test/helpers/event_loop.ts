/**
 * Whether work started by `start` leaves the event loop free: a 1 ms interval timer runs
 * while it is in flight, and we note whether a 1 ms timeout fired before it settled (it can
 * only fire if the loop is free while the work computes elsewhere).
 */
export async function settlesAfterATimer<T>(start: () => Promise<T>): Promise<{ value: T; inFlightAtTimer: boolean; ticks: number }> {
  let ticks = 0, ticksAtFinish = -1;
  const timer = setInterval(() => ticks++, 1);
  try {
    const run = start().then((v) => {
      ticksAtFinish = ticks;
      return v;
    });
    await new Promise((r) => setTimeout(r, 1));
    const inFlightAtTimer = ticksAtFinish === -1;
    const value = await run;
    return { value, inFlightAtTimer, ticks: ticksAtFinish };
  } finally {
    clearInterval(timer);
  }
}
