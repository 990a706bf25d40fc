"""Re-capture the real stack traces in this folder by running small programs.

    .venv/bin/python tests/unit/traces/capture.py

Each scenario is a small app (Python 3.11 and 3.13, Node.js, Java 17) that fails the way
production code does. It runs twice: as release `a` installed at /home/site/wwwroot, and as
release `b` installed at /opt/app with every source file moved down three lines, so a pair of
captures differs in install path and line numbers only. The programs run from a scratch
directory; the scratch prefix is the only thing rewritten in the output (so paths read as they
would on the host). Nothing leaves loopback: the network errors are real refused or timed-out
connections to 127.0.0.1. Each text fixture starts with `#>` lines saying how it was made; each
JSON fixture has a `_source`.

What it writes: python/, node/, java/ (console output, uncaught or logged); functions/ (the
Functions host's FunctionInvocationException / RpcException text around the Python and Node.js
workers' real payloads: `{type}: {exc}` plus `traceback.extract_tb` or `format_exception` for
Python, `error.message` plus `error.stack` for Node, in the host's `Result: ...\nException:
...\nStack: ...` message, azure-functions-host `Workers/Rpc/RpcException.cs`); appinsights/
(`AppExceptions.Details` items: the classic Node.js SDK's own envelopes, from `applicationinsights`
2.x installed with azurite; the Java agent's and the Python OpenTelemetry exporter's rawStack
shapes; the host's .NET telemetry around the Python worker's payload).

Not written here (copied or hand-written, each saying so): dotnet/, go/, java/spring_*,
java/kotlin_*, functions/dotnet_isolated.txt, functions/node_worker_load_error.txt and
appinsights/dotnet_{pricing,guard,nullref}_*.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parents[2]
RELEASES = {"a": ("/home/site/wwwroot", 0), "b": ("/opt/app", 3)}
PY_VERSIONS = {"3.11": "/root/.pyenv/versions/3.11.7/bin/python3.11", "3.13": sys.executable}

PYTHON_APP = {
    "function_app.py": """
import asyncio
import logging
import sys

from inventory import catalog, pricing, reservations, stock


def reserve_stock(message):
    reservation = reservations.parse_reservation(message)
    return reservation


def reserve_batch(messages):
    return [reserve_stock(m) for m in messages]


async def refresh_all(skus):
    async with asyncio.TaskGroup() as group:
        for sku in skus:
            group.create_task(catalog.refresh(sku))


def asgi_app(scope):
    try:
        return pricing.apply_discount({"sku": scope["path"]})
    except Exception:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")


def count_down(n):
    return count_down(n - 1) + 1


SCENARIOS = {
    "keyerror_direct": lambda: reserve_stock({"qty": 2}),
    "keyerror_batch": lambda: reserve_batch([{"qty": 1}]),
    "keyerror_restock": lambda: stock.restock_item({"qty": 5}),
    "keyerror_price": lambda: pricing.apply_discount({"sku": "A-1"}),
    "guard_price": lambda: pricing.set_price("A-1", -3),
    "guard_price_import": lambda: pricing.import_prices([("A-1", 5), ("B-2", -1)]),
    "guard_stock": lambda: stock.set_quantity("A-1", -1),
    "chained_timeout": lambda: catalog.fetch_price("A-1", fail="timeout"),
    "chained_reset": lambda: catalog.fetch_price("A-1", fail="reset"),
    "during_handling": lambda: catalog.cached_name("Z-9"),
    "group": lambda: asyncio.run(refresh_all(["A-1", "Z-9"])),
    "asgi_logger": lambda: asgi_app({"path": "/prices/A-1"}),
    "recursion": lambda: count_down(10),
}

if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s:    %(message)s")
    SCENARIOS[sys.argv[1]]()
""",
    "inventory/__init__.py": "",
    "inventory/reservations.py": """
from dataclasses import dataclass


@dataclass
class Reservation:
    sku: str
    qty: int


def parse_reservation(payload):
    sku = payload["sku"]
    return Reservation(sku, int(payload.get("qty", 1)))
""",
    "inventory/guards.py": """
def ensure_positive(value, name):
    if value < 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value
""",
    "inventory/pricing.py": """
from inventory.guards import ensure_positive

PRICES = {}


def apply_discount(item, rate=0.9):
    return item["price"] * rate


def set_price(sku, amount):
    PRICES[sku] = ensure_positive(amount, "price")


def import_prices(rows):
    for sku, amount in rows:
        set_price(sku, amount)
""",
    "inventory/stock.py": """
from inventory.guards import ensure_positive
from inventory.reservations import parse_reservation

LEVELS = {}


def restock_item(payload):
    reservation = parse_reservation(payload)
    LEVELS[reservation.sku] = reservation.qty


def set_quantity(sku, qty):
    LEVELS[sku] = ensure_positive(qty, "quantity")
""",
    "inventory/catalog.py": """
import asyncio

from fakehttp import client

NAMES = {"A-1": "Anvil"}


class PriceLookupError(Exception):
    pass


def fetch_price(sku, fail):
    try:
        return client.get(f"/prices/{sku}", fail=fail)
    except OSError as error:
        raise PriceLookupError(f"price of {sku} unavailable") from error


def cached_name(sku):
    try:
        return NAMES[sku]
    except KeyError:
        return NAMES[sku.lower()].title()


async def refresh(sku):
    await asyncio.sleep(0)
    if sku not in NAMES:
        raise LookupError(f"unknown sku {sku}")
    return fetch_price(sku, fail="timeout")
""",
    ".python_packages/lib/site-packages/fakehttp/__init__.py": "",
    ".python_packages/lib/site-packages/fakehttp/client.py": """
import socket


def _receive(sock):
    return sock.recv(1024)


def get(path, fail):
    if fail == "timeout":
        server = socket.create_server(("127.0.0.1", 0))
        sock = socket.create_connection(server.getsockname(), timeout=0.05)
        return _receive(sock)
    raise ConnectionResetError(104, "Connection reset by peer")
""",
}

NODE_APP = {
    "src/cart/totals.js": """
'use strict';
function computeTotals(cart) {
  return cart.items.reduce((sum, item) => sum + item.price.total * item.qty, 0);
}
module.exports = { computeTotals };
""",
    "src/cart/summary.js": """
'use strict';
const { computeTotals } = require('./totals');
function buildSummary(cart) {
  const total = computeTotals(cart);
  return { total, count: cart.items.length };
}
module.exports = { buildSummary };
""",
    "src/cart/store.js": """
'use strict';
async function loadCart(session) {
  await null;
  return session.cart.items.map((item) => item.sku);
}
module.exports = { loadCart };
""",
    "src/lib/invariant.js": """
'use strict';
function invariant(condition, message) {
  if (!condition) {
    throw new Error(`Invariant failed: ${message}`);
  }
}
module.exports = { invariant };
""",
    "src/orders/service.js": """
'use strict';
const { invariant } = require('../lib/invariant');
class OrderService {
  ship(order) {
    invariant(order.address, 'order must have an address');
    return { shipped: order.id };
  }
  cancel(order) {
    invariant(order.status !== 'shipped', 'shipped orders cannot be cancelled');
    return { cancelled: order.id };
  }
}
class PriceTable {
  constructor(rows) {
    this.index = new Map(rows.map((row) => [row.sku, row]));
  }
}
class Job {
  execute() {
    return this.handler.run();
  }
}
module.exports = { OrderService, PriceTable, Job };
""",
    "src/routes/checkout.js": """
'use strict';
const { buildSummary } = require('../cart/summary');
async function submitCheckout(request) {
  const cart = await Promise.resolve(request.cart);
  return buildSummary(cart);
}
async function processQueue(requests) {
  for (const request of requests) {
    await submitCheckout(request);
  }
}
module.exports = { submitCheckout, processQueue };
""",
    "src/routes/quote.js": """
'use strict';
const { computeTotals } = require('../cart/totals');
function quote(request) {
  return { amount: computeTotals(request.cart) };
}
module.exports = { quote };
""",
    "src/routes/prices.js": """
'use strict';
const db = require('fake-db');
async function lookupPrice(sku, mode) {
  try {
    return await db.query(`select price from prices where sku = '${sku}'`, mode);
  } catch (error) {
    throw new Error(`Price lookup failed for ${sku}`, { cause: error });
  }
}
module.exports = { lookupPrice };
""",
    "src/esm/report.mjs": """
function renderReport(rows) {
  return rows.map((row) => row.total.toFixed(2)).join('\\n');
}
console.log(renderReport([{ total: 1 }, {}]));
""",
    "node_modules/fake-db/index.js": """
'use strict';
const net = require('net');
function query(sql, mode) {
  return new Promise((resolve, reject) => {
    if (mode === 'refused') {
      const server = net.createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => {
          net.connect(port, '127.0.0.1').on('error', reject);
        });
      });
      return;
    }
    const server = net.createServer(() => {});
    server.listen(0, '127.0.0.1', () => {
      const socket = net.connect(server.address().port, '127.0.0.1');
      socket.setTimeout(30, () => {
        socket.destroy();
        server.close();
        reject(new Error('Query read timeout after 30 ms'));
      });
    });
  });
}
module.exports = { query };
""",
    "main.js": """
'use strict';
const { submitCheckout, processQueue } = require('./src/routes/checkout');
const { quote } = require('./src/routes/quote');
const { loadCart } = require('./src/cart/store');
const { OrderService, PriceTable, Job } = require('./src/orders/service');
const { lookupPrice } = require('./src/routes/prices');

const broken = { cart: { items: [{ sku: 'A-1', qty: 1 }] } };
const scenarios = {
  totals_checkout: () => submitCheckout(broken),
  totals_queue: () => processQueue([broken]),
  totals_quote: () => quote(broken),
  load_cart: () => loadCart({}),
  invariant_ship: () => new OrderService().ship({ id: 7 }),
  invariant_cancel: () => new OrderService().cancel({ id: 7, status: 'shipped' }),
  constructor: () => new PriceTable(undefined),
  as_method: () => {
    const job = new Job();
    const hook = { run: job.execute };
    return hook.run();
  },
  cause_timeout: () => lookupPrice('A-1', 'timeout').catch((error) => console.error(error)),
  cause_refused: () => lookupPrice('A-1', 'refused').catch((error) => console.error(error)),
  aggregate: () => Promise.any([loadCart({}), submitCheckout(broken)])
    .catch((error) => console.error(error)),
  unhandled_rejection: () => {
    Promise.reject(new RangeError('Invalid page size: -1'));
  },
  webpack: () => {
    const source = 'function computeTotals(cart) {\\n'
      + '  return cart.items.reduce((sum, item) => sum + item.price.total, 0);\\n'
      + '}\\n'
      + 'computeTotals({ items: [{}] });\\n'
      + '//# sourceURL=webpack-internal:///./src/cart/totals.js';
    eval(source);
  },
};
scenarios[process.argv[2]]();
""",
    "worker.js": """
'use strict';
// What the Azure Functions Node.js worker sends the host for a failed invocation:
// toRpcStatus() reports { message: error.message, stackTrace: error.stack }.
const { submitCheckout } = require('./src/routes/checkout');
submitCheckout({ cart: { items: [{ sku: 'A-1', qty: 1 }] } }).catch((error) => {
  process.stdout.write(JSON.stringify({ message: error.message, stack: error.stack }));
});
""",
    "sdk.js": """
'use strict';
// Real envelopes of the classic Application Insights Node.js SDK, captured before sending.
const appInsights = require('applicationinsights');
const { submitCheckout } = require('./src/routes/checkout');
const { quote } = require('./src/routes/quote');
const { OrderService } = require('./src/orders/service');

const client = new appInsights.TelemetryClient(
  'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/');
const captured = [];
client.addTelemetryProcessor((envelope) => { captured.push(envelope); return false; });
const broken = { cart: { items: [{ sku: 'A-1', qty: 1 }] } };
const scenarios = {
  totals_checkout: () => submitCheckout(broken),
  totals_quote: async () => quote(broken),
  invariant_ship: async () => new OrderService().ship({ id: 7 }),
  invariant_cancel: async () => new OrderService().cancel({ id: 7, status: 'shipped' }),
};
scenarios[process.argv[2]]().catch((exception) => {
  client.trackException({ exception });
  process.stdout.write(JSON.stringify(captured[0].data.baseData));
});
""",
}

JAVA_APP = {
    "com/contoso/orders/Checks.java": """
package com.contoso.orders;

public final class Checks {
    private Checks() {}

    public static <T> T requireNonNull(T value, String name) {
        if (value == null) {
            throw new IllegalArgumentException(name + " is required");
        }
        return value;
    }
}
""",
    "com/contoso/orders/Order.java": """
package com.contoso.orders;

public record Order(String id, Customer customer, String address) {
    public record Customer(String name, String email) {}
}
""",
    "com/contoso/orders/OrderService.java": """
package com.contoso.orders;

import java.util.List;

public class OrderService {
    public String ship(Order order) {
        String address = Checks.requireNonNull(order.address(), "address");
        return order.id() + " -> " + address;
    }

    public int notifyAll(List<Order> orders) {
        Notifier notifier = new Notifier();
        orders.forEach(order -> notifier.send(order));
        return orders.size();
    }

    class Notifier {
        void send(Order order) {
            String email = order.customer().email();
            System.out.println(email.toLowerCase());
        }
    }
}
""",
    "com/contoso/orders/CartService.java": """
package com.contoso.orders;

import java.util.List;

public class CartService {
    public void add(String sku, Integer quantity) {
        Checks.requireNonNull(quantity, "quantity");
    }

    public int total(List<Integer> prices) {
        return prices.stream().mapToInt(Integer::intValue).sum();
    }
}
""",
    "com/contoso/payments/PaymentException.java": """
package com.contoso.payments;

public class PaymentException extends RuntimeException {
    public PaymentException(String message, Throwable cause) {
        super(message, cause);
    }
}
""",
    "com/contoso/payments/PspClient.java": """
package com.contoso.payments;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

public class PspClient implements AutoCloseable {
    private final String mode;

    public PspClient(String mode) {
        this.mode = mode;
    }

    public String capture(String paymentId) {
        try {
            return call("/captures/" + paymentId);
        } catch (IOException e) {
            throw new PaymentException("Capture of " + paymentId + " failed", e);
        }
    }

    private String call(String path) throws IOException {
        InetAddress loopback = InetAddress.getLoopbackAddress();
        try (ServerSocket server = new ServerSocket(0, 1, loopback)) {
            int port = server.getLocalPort();
            if (mode.equals("refused")) {
                server.close();
            }
            try (Socket socket = new Socket(loopback, port)) {
                socket.setSoTimeout(50);
                InputStream in = socket.getInputStream();
                return String.valueOf(in.read());
            }
        }
    }

    @Override
    public void close() {
        throw new IllegalStateException("connection pool already closed");
    }
}
""",
    "com/contoso/Main.java": """
package com.contoso;

import com.contoso.orders.CartService;
import com.contoso.orders.Order;
import com.contoso.orders.OrderService;
import com.contoso.payments.PspClient;
import java.util.List;

public class Main {
    static void settle(String mode) {
        try (PspClient client = new PspClient(mode)) {
            client.capture("pay_7Hq2");
        }
    }

    static void batch(Runnable job) {
        new Object() {
            void run() {
                job.run();
            }
        }.run();
    }

    public static void main(String[] args) throws Exception {
        OrderService orders = new OrderService();
        Order noEmail = new Order("o-1", new Order.Customer("Ann", null), "Main St 1");
        switch (args[0]) {
            case "npe_direct" -> orders.notifyAll(List.of(noEmail));
            case "npe_batch" -> batch(() -> orders.notifyAll(List.of(noEmail)));
            case "helper_ship" -> orders.ship(new Order("o-2", null, null));
            case "helper_ship_batch" -> batch(() -> orders.ship(new Order("o-2", null, null)));
            case "helper_cart" -> new CartService().add("A-1", null);
            case "npe_cart" -> new CartService().total(null);
            case "caused_timeout" -> settle("timeout");
            case "caused_refused" -> settle("refused");
            case "thread" -> {
                Order order = new Order("o-3", null, null);
                Thread worker = new Thread(() -> orders.ship(order), "worker-1");
                worker.start();
                worker.join();
            }
            default -> throw new IllegalArgumentException(args[0]);
        }
    }
}
""",
}

PYTHON_SCENARIOS = [
    "keyerror_direct",
    "keyerror_batch",
    "keyerror_restock",
    "keyerror_price",
    "guard_price",
    "guard_price_import",
    "guard_stock",
    "chained_timeout",
    "chained_reset",
    "during_handling",
    "group",
    "asgi_logger",
    "recursion",
]
PYTHON_311_SCENARIOS = ["keyerror_direct", "chained_timeout", "group", "recursion"]
NODE_SCENARIOS = [
    "totals_checkout",
    "totals_queue",
    "totals_quote",
    "load_cart",
    "invariant_ship",
    "invariant_cancel",
    "constructor",
    "as_method",
    "cause_timeout",
    "cause_refused",
    "aggregate",
    "unhandled_rejection",
    "webpack",
]
SDK_SCENARIOS = ["totals_checkout", "totals_quote", "invariant_ship", "invariant_cancel"]
JAVA_SCENARIOS = [
    "npe_direct",
    "npe_batch",
    "npe_cart",
    "helper_ship",
    "helper_ship_batch",
    "helper_cart",
    "caused_timeout",
    "caused_refused",
    "thread",
]

# The Functions host around a Python worker failure: FunctionInvocationException wrapping the
# host's RpcException (message format from azure-functions-host RpcException.cs); the host's own
# frames are those of a real one in Azure/azure-functions-host#11157 and
# MicrosoftDocs/azure-docs#112225 (host 4.x, `/_/src/WebJobs.Script/...`).
_HOST_SOURCES = "D:\\a\\_work\\1\\s\\src\\Microsoft.Azure.WebJobs.Host\\Executors"
HOST_WRAPPER = (
    "Microsoft.Azure.WebJobs.Host.FunctionInvocationException : "
    "Exception while executing function: Functions.{function} ---> "
    "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException : Result: Failure\n"
    "Exception: {message}\n"
    "Stack: {stack}\n"
    "   at Microsoft.Azure.WebJobs.Script.Description.WorkerFunctionInvoker.InvokeCore"
    "(Object[] parameters, FunctionInvocationContext context) in "
    "/_/src/WebJobs.Script/Description/Workers/WorkerFunctionInvoker.cs:line 101\n"
    "   at Microsoft.Azure.WebJobs.Script.Description.FunctionInvokerBase.Invoke"
    "(Object[] parameters) in /_/src/WebJobs.Script/Description/FunctionInvokerBase.cs:line 82\n"
    "   at Microsoft.Azure.WebJobs.Host.Executors.VoidTaskMethodInvoker`2.InvokeAsync"
    "(TReflected instance, Object[] arguments) in "
    f"{_HOST_SOURCES}\\VoidTaskMethodInvoker.cs:line 20\n"
    "   at Microsoft.Azure.WebJobs.Host.Executors.FunctionExecutor.InvokeWithTimeoutAsync"
    "(IFunctionInvoker invoker, ParameterHelper parameterHelper, CancellationTokenSource "
    "timeoutTokenSource, CancellationTokenSource functionCancellationTokenSource, Boolean "
    "throwOnTimeout, TimeSpan timerInterval, IFunctionInstance instance) in "
    f"{_HOST_SOURCES}\\FunctionExecutor.cs:line 581\n"
    "   --- End of inner exception stack trace ---\n"
    "   at Microsoft.Azure.WebJobs.Host.Executors.FunctionExecutor.ExecuteWithLoggingAsync"
    "(IFunctionInstanceEx instance, FunctionStartedMessage message, FunctionInstanceLogEntry "
    "instanceLogEntry, ParameterHelper parameterHelper, ILogger logger, CancellationToken "
    "cancellationToken) in "
    f"{_HOST_SOURCES}\\FunctionExecutor.cs:line 306"
)
INVOCATION_EXCEPTION = "Microsoft.Azure.WebJobs.Host.FunctionInvocationException"
RPC_EXCEPTION = "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException"
_CORELIB = (
    "System.Private.CoreLib, Version=6.0.0.0, Culture=neutral, PublicKeyToken=" + "7cec85d7bea7798e"
)
_WEBJOBS = "Microsoft.Azure.WebJobs.Host, Version=3.0.39.0, Culture=neutral, PublicKeyToken=" + (
    "31bf3856ad364e35"
)
_SCRIPT = "Microsoft.Azure.WebJobs.Script, Version=4.27.5.0, Culture=neutral, PublicKeyToken=null"
_EXECUTOR = "D:\\a\\_work\\1\\s\\src\\Microsoft.Azure.WebJobs.Host\\Executors\\FunctionExecutor.cs"
HOST_PARSED_STACK = [
    {
        "level": 0,
        "method": "System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw",
        "assembly": _CORELIB,
        "line": 0,
    },
    {
        "level": 1,
        "method": "Microsoft.Azure.WebJobs.Host.Executors.FunctionExecutor+"
        "<ExecuteWithLoggingAsync>d__26.MoveNext",
        "assembly": _WEBJOBS,
        "fileName": _EXECUTOR,
        "line": 352,
    },
    {
        "level": 2,
        "method": "System.Runtime.CompilerServices.TaskAwaiter.ThrowForNonSuccess",
        "assembly": _CORELIB,
        "line": 0,
    },
    {
        "level": 3,
        "method": "Microsoft.Azure.WebJobs.Host.Executors.FunctionExecutor+"
        "<TryExecuteAsync>d__18.MoveNext",
        "assembly": _WEBJOBS,
        "fileName": _EXECUTOR,
        "line": 108,
    },
]
RPC_PARSED_STACK = [
    {
        "level": 0,
        "method": "Microsoft.Azure.WebJobs.Script.Description.WorkerFunctionInvoker+"
        "<InvokeCore>d__10.MoveNext",
        "assembly": _SCRIPT,
        "fileName": "/_/src/WebJobs.Script/Description/Workers/WorkerFunctionInvoker.cs",
        "line": 101,
    },
    {
        "level": 1,
        "method": "System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw",
        "assembly": _CORELIB,
        "line": 0,
    },
]
WORKER_FRAMES = (
    '  File "/azure-functions-host/workers/python/3.11/LINUX/X64/azure_functions_worker/'
    'dispatcher.py", line 505, in _handle__invocation_request\n'
    "    call_result = await self._loop.run_in_executor(\n"
    '  File "/usr/local/lib/python3.11/concurrent/futures/thread.py", line 58, in run\n'
    "    result = self.fn(*self.args, **self.kwargs)\n"
    '  File "/azure-functions-host/workers/python/3.11/LINUX/X64/azure_functions_worker/'
    'dispatcher.py", line 778, in _run_sync_func\n'
    "    return ExtensionManager.get_sync_invocation_wrapper(context,\n"
    '  File "/azure-functions-host/workers/python/3.11/LINUX/X64/azure_functions_worker/'
    'extension.py", line 215, in _raw_function_wrapper\n'
    "    result = function(**args)\n"
)
OTEL_PROBE = """
import json, sys, traceback
import function_app
try:
    function_app.SCENARIOS[sys.argv[1]]()
except Exception as exc:
    # azure-monitor-opentelemetry-exporter: exception.type, exception.message and
    # exception.stacktrace (traceback.format_exception) become typeName, message and stack.
    print(json.dumps({
        "type": type(exc).__name__,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }))
"""
WORKER_PROBE = """
import json, sys, traceback
import function_app
try:
    function_app.reserve_stock({"qty": 2})
except Exception as exc:
    print(json.dumps({
        "message": f"{type(exc).__name__}: {exc}",
        "frames": "".join(traceback.extract_tb(exc.__traceback__.tb_next).format()),
        "full": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)),
    }))
"""


def _install(files: dict[str, str], root: Path, padding: int) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pad = ("\n" * padding) if name.endswith((".py", ".js", ".mjs", ".java")) else ""
        path.write_text(pad + source.lstrip("\n"))


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=60, env=env, check=False
    )
    return result.stderr + result.stdout


def _save(path: Path, header: str, text: str, scratch: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = re.sub(re.escape(str(scratch)) + "/[ab]", "", text)
    path.write_text(f"#> {header}\n{body.rstrip()}\n")


def capture_python(scratch: Path) -> None:
    for release, (install, padding) in RELEASES.items():
        root = scratch / release / install.lstrip("/")
        _install(PYTHON_APP, root, padding)
        packages = root / ".python_packages/lib/site-packages"
        env = {**os.environ, "PYTHONPATH": f"{root}:{packages}", "PYTHONDONTWRITEBYTECODE": "1"}
        for version, python in PY_VERSIONS.items():
            for scenario in PYTHON_SCENARIOS if version == "3.13" else PYTHON_311_SCENARIOS:
                output = _run([python, "function_app.py", scenario], root, env)
                header = f"python {version}, {scenario}, release {release} at {install}"
                _save(HERE / f"python/{scenario}.{version}.{release}.txt", header, output, scratch)
        for scenario in ("chained_timeout", "chained_reset"):
            probe = _run([sys.executable, "-c", OTEL_PROBE, scenario], root, env)
            data = json.loads(probe.splitlines()[-1])
            item = {"type": data["type"], "message": data["message"], "rawStack": data["stack"]}
            source = (
                "azure-monitor-opentelemetry-exporter (Python) shape: exception.stacktrace of a "
                f"real exception as rawStack; python 3.13, {scenario}, release {release}"
            )
            _save_details(f"otel_python_{scenario}.{release}.json", source, [item], scratch)
        probe = _run([sys.executable, "-c", WORKER_PROBE], root, env)
        payload = json.loads(probe.splitlines()[-1])
        _save_details(
            f"dotnet_host_python_worker.{release}.json",
            "The Functions host's own App Insights telemetry for a failed Python invocation: "
            "FunctionInvocationException (frames as in the portal copy quoted in "
            "Azure/azure-functions-python-worker#1341) wrapping the RpcException whose message is "
            f"the worker's real payload; release {release}",
            [
                {
                    "type": INVOCATION_EXCEPTION,
                    "message": "Exception while executing function: Functions.reserve_stock",
                    "parsedStack": HOST_PARSED_STACK,
                },
                {
                    "type": RPC_EXCEPTION,
                    "message": "Result: Failure\nException: "
                    f"{payload['message']}\nStack: {(WORKER_FRAMES + payload['frames']).rstrip()}",
                    "parsedStack": RPC_PARSED_STACK,
                },
            ],
            scratch,
        )
        for kind, stack in (
            ("frames", WORKER_FRAMES + payload["frames"]),
            ("full", payload["full"]),
        ):
            text = HOST_WRAPPER.format(
                function="reserve_stock", message=payload["message"], stack=stack.rstrip("\n")
            )
            header = f"Functions host around the Python worker ({kind}), release {release}"
            _save(HERE / f"functions/python_worker_{kind}.{release}.txt", header, text, scratch)


def capture_node(scratch: Path) -> None:
    for release, (install, padding) in RELEASES.items():
        root = scratch / release / install.lstrip("/")
        _install(NODE_APP, root, padding)
        (root / "node_modules/applicationinsights").symlink_to(
            REPO / "node_modules/applicationinsights"
        )
        env = {**os.environ, "NODE_PATH": str(REPO / "node_modules")}
        for scenario in NODE_SCENARIOS:
            output = _run(["node", "main.js", scenario], root, env)
            header = f"node {_version(['node', '--version'])}, {scenario}, release {release}"
            _save(HERE / f"node/{scenario}.{release}.txt", header, output, scratch)
        payload = json.loads(_run(["node", "worker.js"], root, env))
        text = HOST_WRAPPER.format(
            function="submitCheckout", message=payload["message"], stack=payload["stack"]
        )
        header = f"Functions host around the Node.js worker, release {release}"
        _save(HERE / f"functions/node_worker.{release}.txt", header, text, scratch)
        output = _run(["node", "src/esm/report.mjs"], root, env)
        _save(HERE / f"node/esm.{release}.txt", f"node, esm, release {release}", output, scratch)
        for scenario in SDK_SCENARIOS:
            data = json.loads(_run(["node", "sdk.js", scenario], root, env))
            (exception,) = data["exceptions"]
            item = {
                "type": exception["typeName"],
                "message": exception["message"],
                "hasFullStack": exception.get("hasFullStack", True),
                "parsedStack": [
                    {key: frame[key] for key in STACK_FRAME_FIELDS if key in frame}
                    for frame in exception["parsedStack"]
                ],
            }
            source = (
                "applicationinsights 2.9.8 (classic Node.js SDK) trackException envelope of a "
                f"real error; node {scenario}, release {release}"
            )
            _save_details(f"node_classic_{scenario}.{release}.json", source, [item], scratch)


STACK_FRAME_FIELDS = ("level", "method", "assembly", "fileName", "line")


def _save_details(name: str, source: str, items: list[dict[str, object]], scratch: Path) -> None:
    """Items as Log Analytics stores them in AppExceptions.Details (ids as strings, the outermost
    one with outerId "0")."""
    details = []
    outer = "0"
    for number, item in enumerate(items, 1):
        ident = str(41_000_000 + number * 7919)
        details.append({"severityLevel": "Error", "outerId": outer, "id": ident, **item})
        outer = ident
    document = {"_source": source + "; reshaped as AppExceptions.Details", "Details": details}
    text = re.sub(re.escape(str(scratch)) + "/[ab]", "", json.dumps(document, indent=1))
    path = HERE / "appinsights" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def capture_java(scratch: Path) -> None:
    for release, (install, padding) in RELEASES.items():
        root = scratch / release / install.lstrip("/")
        _install(JAVA_APP, root / "src", padding)
        classes = root / "classes"
        sources = [str(p) for p in (root / "src").rglob("*.java")]
        subprocess.run(["javac", "-g", "-d", str(classes), *sources], check=True)
        for scenario in JAVA_SCENARIOS:
            output = _run(["java", "-cp", str(classes), "com.contoso.Main", scenario], root)
            header = f"java {_version(['java', '-version'])}, {scenario}, release {release}"
            _save(HERE / f"java/{scenario}.{release}.txt", header, output, scratch)
            if scenario.startswith("caused_"):
                # Application Insights Java 3.x: Exceptions.minimalParse() takes type and
                # message from the first line and keeps printStackTrace() output as the stack.
                stack = re.sub(r'^Exception in thread "[^"]*" ', "", output.strip())
                first = stack.split("\n", 1)[0]
                type_name, _, message = first.partition(": ")
                item = {"type": type_name, "message": message, "rawStack": stack}
                source = f"Application Insights Java agent shape; java 17, {scenario}, {release}"
                _save_details(f"java_agent_{scenario}.{release}.json", source, [item], scratch)


def _version(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr).splitlines()[0].strip()


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="faultline-traces-"))
    try:
        capture_python(scratch)
        capture_node(scratch)
        capture_java(scratch)
    except Exception:
        traceback.print_exc()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
