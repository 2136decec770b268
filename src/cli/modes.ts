import { definition as announce } from '../announce/command.js';
import { definition as demo } from '../demo/command.js';
import { definition as dns } from '../dns/command.js';
import { definition as proxy } from '../proxy/command.js';
import { definition as render } from '../render/command.js';
import { definition as services } from '../services/command.js';
import { definition as tls } from '../proxy/tls/command.js';
import { explainDefinition as explain, routesDefinition as routes } from '../inspect/command.js';
import type { ModeDefinition } from '../mode.js';

export const MODES: readonly ModeDefinition[] = [announce, dns, proxy, render, services, routes, explain, tls, demo];
