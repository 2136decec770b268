/** `/status` of the TCP listeners across `--workers` processes: counts summed, instance states listed per worker. */
import type { TcpListenerStatus } from './listeners.js';

export interface MergedTcpListener extends Omit<TcpListenerStatus, 'instances'> {
  instances: { id: string; instances: readonly string[]; weight: number; open: number; state: string; workerStates: string[] }[];
}

export function mergeTcpStatus(perWorker: readonly (readonly TcpListenerStatus[] | undefined)[]): MergedTcpListener[] {
  const out = new Map<string, MergedTcpListener>();
  for (const listeners of perWorker) {
    for (const l of listeners ?? []) {
      let merged = out.get(l.listen);
      if (!merged) out.set(l.listen, (merged = { listen: l.listen, service: l.service, balance: l.balance, open: 0, total: 0, instances: [] }));
      merged.open += l.open;
      merged.total += l.total;
      for (const i of l.instances) {
        let entry = merged.instances.find((e) => e.id === i.id);
        if (!entry) merged.instances.push((entry = { id: i.id, instances: i.instances, weight: i.weight, open: 0, state: i.state, workerStates: [] }));
        entry.open += i.open;
        entry.workerStates.push(i.state);
        entry.state = entry.workerStates.every((s) => s === 'up') ? 'up' : entry.workerStates.some((s) => s === 'up') ? 'partly-ejected' : entry.workerStates[0]!;
      }
    }
  }
  return [...out.values()];
}
