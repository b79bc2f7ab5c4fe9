import { loadConfig } from '../../../lambda/config/config';
import { ENV } from '../../../lambda/config/env';
import { parseNotPulledDays } from '../../../lambda/config/lifecycle';

const BASE = { [ENV.bucket]: 'b', [ENV.table]: 't' };

describe('lifecycle configuration: not pulled for N days', () => {
  test('off unless set; a whole number of days, at least one, or off', () => {
    expect(loadConfig(BASE).lifecycle?.notPulledForDays).toBeNull();
    expect(loadConfig({ ...BASE, [ENV.notPulledFor]: '90' }).lifecycle?.notPulledForDays).toBe(90);
    expect(loadConfig({ ...BASE, [ENV.notPulledFor]: 'off' }).lifecycle?.notPulledForDays).toBeNull();
    for (const bad of ['0', '1.5', '-3', 'soon']) {
      expect(() => loadConfig({ ...BASE, [ENV.notPulledFor]: bad })).toThrow(
        `${ENV.notPulledFor} must be a number of days (at least 1) or "off", got "${bad}"`,
      );
    }
    expect(parseNotPulledDays('')).toBeNull();
  });
});
