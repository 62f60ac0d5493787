import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { requestsPerTurn } from '../src/middleware/requests-per-turn';
import { noDatabase, testApp } from './helpers';

/** Counts event-loop turns: each turn's check phase moves it on, while `running`. */
function turnCounter() {
  const counter = { turn: 0, running: true };
  const tick = () => {
    if (!counter.running) return;
    counter.turn += 1;
    setImmediate(tick);
  };
  setImmediate(tick);
  return counter;
}

describe('requests begun per event-loop turn (REQUESTS_PER_LOOP_TURN)', () => {
  test('of requests that arrive together, a few begin in each turn, in the order they came', async () => {
    const gate = requestsPerTurn(2);
    const turns = turnCounter();
    const begun: Array<{ request: number; turn: number }> = [];
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 7; i++)
        gate(
          {} as Request,
          {} as Response,
          (() => {
            begun.push({ request: i, turn: turns.turn });
            if (begun.length === 7) resolve();
          }) as NextFunction,
        );
    });
    turns.running = false;
    expect(begun.map((entry) => entry.request)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // two in the turn they arrived in, then two a turn
    const firstTurn = begun[0].turn;
    expect(begun.map((entry) => entry.turn - firstTurn)).toEqual([0, 0, 1, 1, 2, 2, 3]);
  });

  test('requests arriving one by one begin at once', async () => {
    const gate = requestsPerTurn(1);
    const turns = turnCounter();
    const lag: number[] = [];
    for (let i = 0; i < 3; i++) {
      const arrived = turns.turn;
      await new Promise<void>((resolve) =>
        gate(
          {} as Request,
          {} as Response,
          (() => {
            lag.push(turns.turn - arrived);
            resolve();
          }) as NextFunction,
        ),
      );
      await new Promise((resolve) => setImmediate(resolve));
    }
    turns.running = false;
    expect(lag).toEqual([0, 0, 0]);
  });

  test('a request whose client left while it waited is not begun; the ones after it are', async () => {
    const gate = requestsPerTurn(1);
    const sockets = [0, 1, 2].map(() => ({ destroyed: false }));
    const begun: number[] = [];
    const third = new Promise<void>((resolve) => {
      for (let i = 0; i < 3; i++)
        gate(
          { socket: sockets[i] } as unknown as Request,
          {} as Response,
          (() => {
            begun.push(i);
            if (i === 2) resolve();
          }) as NextFunction,
        );
    });
    // the second's client hangs up before its turn
    sockets[1].destroyed = true;
    await third;
    expect(begun).toEqual([0, 2]);
  });

  test('the gateway with the setting answers every request of a burst', async () => {
    const { app } = testApp({ db: noDatabase }, undefined, { REQUESTS_PER_LOOP_TURN: '2' });
    const answers = await Promise.all(Array.from({ length: 12 }, () => request(app).get('/healthz')));
    expect(answers.map((answer) => answer.status)).toEqual(Array(12).fill(200));
  });
});
