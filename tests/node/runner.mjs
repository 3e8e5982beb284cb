// Runs the scenario named on the command line and exits non-zero when it throws.
export async function runScenario(scenarios) {
  const name = process.argv[2];
  if (!scenarios[name]) {
    console.error(`unknown scenario ${name}; one of: ${Object.keys(scenarios).join(", ")}`);
    process.exit(2);
  }
  try {
    await scenarios[name]();
    console.log(JSON.stringify({ scenario: name, ok: true }));
    process.exit(0);
  } catch (err) {
    console.error(err?.stack ?? String(err));
    process.exit(1);
  }
}
