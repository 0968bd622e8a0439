// The `k6/execution` module: where the running iteration is.
const host = globalThis.__loadpacer;

const vu = {
  get idInTest() { return host.exec().vu; },
  get idInInstance() { return host.exec().vu; },
  get iterationInScenario() { return host.exec().iterationInScenario; },
  get iterationInInstance() { return host.exec().iterationInScenario; },
  tags: {},
  metrics: { tags: {}, metadata: {} },
};
const scenario = {
  get name() { return host.exec().scenario; },
  get iterationInTest() { return host.exec().iterationInTest; },
  get iterationInInstance() { return host.exec().iterationInTest; },
  get startTime() { return host.exec().startTime; },
  get progress() { return host.exec().progress; },
  executor: 'loadpacer',
};
const test = {
  abort(reason) { host.abort(reason === undefined ? 'test.abort() called' : String(reason)); },
  get options() { return globalThis.__loadpacer_options || {}; },
};
const instance = {
  get vusActive() { return host.exec().vusActive; },
  get iterationsCompleted() { return host.exec().iterationInTest; },
};

export { vu, scenario, test, instance };
export default { vu, scenario, test, instance };
