/** Consecutive-result health, as HAProxy and nginx plus do it: `rise` passes to go up, `fall` failures to go down. */
export interface Health {
  readonly healthy: boolean;
  /** consecutive results agreeing against the current state */
  readonly streak: number;
}

export const INITIAL_HEALTH: Health = { healthy: false, streak: 0 };

export function nextHealth(current: Health, passed: boolean, rise: number, fall: number): Health {
  if (passed === current.healthy) return { healthy: current.healthy, streak: 0 };
  const streak = current.streak + 1;
  const needed = current.healthy ? fall : rise;
  return streak >= needed ? { healthy: passed, streak: 0 } : { healthy: current.healthy, streak };
}
