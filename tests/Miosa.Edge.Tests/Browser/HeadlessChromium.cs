// A headless Chromium driven over the Chrome DevTools Protocol, for end-to-end tests.
// Self-contained (BCL only: System.Net.WebSockets + System.Text.Json) so other test projects can
// link this file with <Compile Include="..." Link="Browser/HeadlessChromium.cs" />.
using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Miosa.Edge.Tests.Browser;

/// <summary>
/// One Chromium process with a fresh profile. Dispose it to kill the process tree and delete the profile.
/// Every call is bounded by <see cref="Timeout"/>, so a hung browser fails the test instead of the suite.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    /// <summary>Environment variable naming the Chromium binary, when it is not in a Debian location.</summary>
    public const string PathVariable = "MIOSA_CHROMIUM";

    static readonly TimeSpan LaunchTimeout = TimeSpan.FromSeconds(30);

    readonly Process process;
    readonly string profileDir;
    readonly Output output;
    readonly CdpConnection connection;
    int disposed;

    HeadlessChromium(Process process, string profileDir, Output output, CdpConnection connection)
    {
        this.process = process;
        this.profileDir = profileDir;
        this.output = output;
        this.connection = connection;
    }

    /// <summary>Upper bound for each DevTools command and each navigation. Defaults to 10 s.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The browser process id, for diagnostics.</summary>
    public int ProcessId => process.Id;

    public static Task<HeadlessChromium> LaunchAsync(CancellationToken ct = default) => LaunchAsync([], ct);

    /// <param name="extraArguments">More Chromium switches, e.g. <c>--host-resolver-rules=...</c>.</param>
    public static async Task<HeadlessChromium> LaunchAsync(IReadOnlyList<string> extraArguments, CancellationToken ct = default)
    {
        var executable = FindExecutable();
        var profileDir = Directory.CreateTempSubdirectory("miosa-chromium-").FullName;
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[
            "--headless=new",
            // Tests run as root, and Chromium refuses to start its sandbox as root.
            "--no-sandbox",
            "--disable-gpu",
            // Containers give /dev/shm 64 MB; Chromium crashes when it runs out.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            // Local servers only: an http_proxy in the environment must not intercept them.
            "--no-proxy-server",
            // No update, safe-browsing or metrics traffic that could stall in an offline CI.
            "--disable-background-networking",
            "--disable-component-update",
            // Port 0: Chromium picks a free port and prints it, so parallel tests never collide.
            "--remote-debugging-port=0",
            $"--user-data-dir={profileDir}",
        ])
            start.ArgumentList.Add(argument);
        foreach (var argument in extraArguments)
            start.ArgumentList.Add(argument);
        start.ArgumentList.Add("about:blank");
        // Crash reports and caches go under the profile too, not into root's home.
        start.Environment["XDG_CONFIG_HOME"] = Path.Combine(profileDir, "config");
        start.Environment["XDG_CACHE_HOME"] = Path.Combine(profileDir, "cache");

        var output = new Output();
        var process = new Process { StartInfo = start };
        // Both pipes are drained for the browser's whole life: a full pipe would block Chromium.
        process.ErrorDataReceived += (_, e) => output.Add(e.Data);
        process.OutputDataReceived += (_, e) => output.Add(e.Data);
        try
        {
            process.Start();
        }
        catch (Exception e)
        {
            TryDeleteDirectory(profileDir);
            throw new InvalidOperationException($"Could not start Chromium at {executable}: {e.Message}", e);
        }
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();

        CdpConnection? connection = null;
        try
        {
            var exited = process.WaitForExitAsync(CancellationToken.None);
            var first = await Task.WhenAny(output.DevToolsUrl, exited).WaitAsync(LaunchTimeout, ct);
            if (first == exited)
                throw new InvalidOperationException(
                    $"Chromium exited with code {process.ExitCode} before printing its DevTools address.{output.Tail()}");
            var url = await output.DevToolsUrl;
            var browser = (HeadlessChromium?)null;
            connection = await CdpConnection.ConnectAsync(new Uri(url), () => browser?.Describe() ?? "", LaunchTimeout, ct);
            browser = new HeadlessChromium(process, profileDir, output, connection);
            return browser;
        }
        catch (Exception e)
        {
            if (connection is not null)
                await connection.DisposeAsync();
            await KillAsync(process);
            process.Dispose();
            TryDeleteDirectory(profileDir);
            if (e is TimeoutException)
            {
                var step = output.DevToolsUrl.IsCompleted ? "accept the DevTools connection" : "print its DevTools address";
                throw new TimeoutException($"Chromium did not {step} within {LaunchTimeout.TotalSeconds:0} s.{output.Tail()}", e);
            }
            throw;
        }
    }

    /// <summary>Opens a new tab on about:blank.</summary>
    public async Task<BrowserPage> NewPageAsync(CancellationToken ct = default)
    {
        var created = await connection.SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, null, Timeout, ct);
        var targetId = created.GetProperty("targetId").GetString()!;
        // Flatten: the tab's commands and events share this socket, tagged with its sessionId.
        var attached = await connection.SendAsync("Target.attachToTarget",
            new JsonObject { ["targetId"] = targetId, ["flatten"] = true }, null, Timeout, ct);
        var page = new BrowserPage(this, connection, targetId, attached.GetProperty("sessionId").GetString()!);
        await page.EnableAsync(ct);
        return page;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
            return;
        await connection.DisposeAsync();
        await KillAsync(process);
        process.Dispose();
        TryDeleteDirectory(profileDir);
    }

    string Describe()
    {
        string state;
        try
        {
            state = process.HasExited ? $"Chromium (pid {process.Id}) has exited with code {process.ExitCode}." : $"Chromium (pid {process.Id}) is still running.";
        }
        catch (InvalidOperationException)
        {
            state = "Chromium is gone.";
        }
        return " " + state + output.Tail();
    }

    static string FindExecutable()
    {
        var configured = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(configured))
            return configured;
        // The real binary first: Debian's /usr/bin/chromium is a shell wrapper that sources
        // /etc/chromium.d (extension and API-key flags we do not want) and then execs this.
        foreach (var candidate in (string[])["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"])
        {
            if (File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException(
            $"No Chromium found. Install it (apt-get install chromium; scripts/test does) or set {PathVariable}.");
    }

    static async Task KillAsync(Process process)
    {
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            // Already gone, or stuck in the kernel: nothing more a test can do about it.
        }
    }

    static void TryDeleteDirectory(string path)
    {
        // Child processes may still be closing files for a moment after the kill.
        for (var attempt = 0; attempt < 10; attempt++)
        {
            try
            {
                if (Directory.Exists(path))
                    Directory.Delete(path, recursive: true);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Collects Chromium's console output: the DevTools address, and a tail for error messages.</summary>
    sealed class Output
    {
        const string ListeningPrefix = "DevTools listening on ";
        readonly ConcurrentQueue<string> lines = new();
        readonly TaskCompletionSource<string> devToolsUrl = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string> DevToolsUrl => devToolsUrl.Task;

        public void Add(string? line)
        {
            if (line is null)
                return;
            if (line.StartsWith(ListeningPrefix, StringComparison.Ordinal))
                devToolsUrl.TrySetResult(line[ListeningPrefix.Length..].Trim());
            // Containers have no D-Bus; Chromium complains about it on every start. Not a clue.
            if (line.Contains("dbus", StringComparison.OrdinalIgnoreCase) || line.Length == 0)
                return;
            lines.Enqueue(line);
            while (lines.Count > 20)
                lines.TryDequeue(out _);
        }

        public string Tail()
        {
            var snapshot = lines.ToArray();
            return snapshot.Length == 0 ? "" : " Chromium's last output:\n  " + string.Join("\n  ", snapshot);
        }
    }
}

/// <summary>One tab. Dispose closes it.</summary>
public sealed class BrowserPage : IAsyncDisposable
{
    readonly HeadlessChromium browser;
    readonly CdpConnection connection;
    readonly string targetId;
    readonly string sessionId;

    internal BrowserPage(HeadlessChromium browser, CdpConnection connection, string targetId, string sessionId)
    {
        this.browser = browser;
        this.connection = connection;
        this.targetId = targetId;
        this.sessionId = sessionId;
    }

    internal async Task EnableAsync(CancellationToken ct)
    {
        await SendAsync("Page.enable", null, ct);
        // Lifecycle events carry the loaderId, so a load event is matched to its own navigation.
        await SendAsync("Page.setLifecycleEventsEnabled", new JsonObject { ["enabled"] = true }, ct);
        await SendAsync("Network.enable", null, ct);
    }

    /// <summary>
    /// Navigates and waits for the main frame's load event. Returns the main document's HTTP status
    /// (after redirects), or 0 when no response was involved (about:blank, a same-document #hash).
    /// A network failure (refused, unresolvable) throws InvalidOperationException.
    /// </summary>
    public async Task<int> GotoAsync(string url, CancellationToken ct = default)
    {
        var events = Channel.CreateUnbounded<CdpEvent>();
        // Subscribe before navigating: the response can arrive before Page.navigate answers.
        using var subscription = connection.Subscribe(sessionId, events.Writer);
        var navigated = await SendAsync("Page.navigate", new JsonObject { ["url"] = url }, ct);
        var errorText = navigated.TryGetProperty("errorText", out var error) ? error.GetString() : null;
        // An HTTP error with an empty body shows Chromium's error page; the status is still the answer.
        var httpErrorPage = errorText == "net::ERR_HTTP_RESPONSE_CODE_FAILURE";
        if (!string.IsNullOrEmpty(errorText) && !httpErrorPage)
            throw new InvalidOperationException($"Navigation to {url} failed: {errorText}");
        if (!navigated.TryGetProperty("loaderId", out var loader))
            return 0;
        var loaderId = loader.GetString();
        var frameId = navigated.GetProperty("frameId").GetString();

        int status = 0;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(browser.Timeout);
        try
        {
            while (true)
            {
                var e = await events.Reader.ReadAsync(deadline.Token);
                if (e.Method == "Network.responseReceived"
                    && e.Params.GetProperty("requestId").GetString() == loaderId)
                {
                    status = e.Params.GetProperty("response").GetProperty("status").GetInt32();
                    if (httpErrorPage)
                        return status;
                }
                else if (e.Method == "Page.lifecycleEvent"
                    && e.Params.GetProperty("name").GetString() == "load"
                    && e.Params.GetProperty("loaderId").GetString() == loaderId
                    && e.Params.GetProperty("frameId").GetString() == frameId)
                {
                    return status;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"{url} did not finish loading within {browser.Timeout.TotalSeconds:0.#} s (HTTP status so far: {status}).{connection.Describe()}");
        }
    }

    /// <summary>
    /// Evaluates a JavaScript expression in the page; promises are awaited, and the result is
    /// converted from JSON to <typeparamref name="T"/>. A thrown exception becomes an InvalidOperationException.
    /// </summary>
    public async Task<T> EvaluateAsync<T>(string expression, CancellationToken ct = default) =>
        FromJson<T>(await EvaluateAsync(expression, browser.Timeout, ct));

    /// <summary>
    /// Polls <paramref name="jsPredicate"/> (an expression, or a promise of one) until it is truthy.
    /// Errors while polling count as false and are reported on timeout.
    /// </summary>
    public async Task WaitForAsync(string jsPredicate, TimeSpan timeout, CancellationToken ct = default)
    {
        var stopwatch = Stopwatch.StartNew();
        string? lastError = null;
        while (true)
        {
            var remaining = timeout - stopwatch.Elapsed;
            if (remaining <= TimeSpan.Zero)
                break;
            try
            {
                // Navigations destroy the context mid-poll; the next poll runs in the new document.
                var result = await EvaluateAsync($"Promise.resolve({jsPredicate}).then(Boolean)", Min(remaining, browser.Timeout), ct);
                if (result.ValueKind == JsonValueKind.True)
                    return;
                lastError = null;
            }
            catch (InvalidOperationException e) when (!connection.IsClosed)
            {
                lastError = e.Message;
            }
            catch (TimeoutException e)
            {
                lastError = e.Message;
            }
            var pause = Min(TimeSpan.FromMilliseconds(50), timeout - stopwatch.Elapsed);
            if (pause > TimeSpan.Zero)
                await Task.Delay(pause, ct);
        }
        throw new TimeoutException(
            $"`{jsPredicate}` was not true within {timeout.TotalSeconds:0.###} s."
            + (lastError is null ? "" : $" Last error: {lastError}"));
    }

    /// <summary>The cookies the browser would send to the page's current URL, HttpOnly ones included.</summary>
    public async Task<IReadOnlyList<BrowserCookie>> CookiesAsync(CancellationToken ct = default)
    {
        var result = await SendAsync("Network.getCookies", null, ct);
        return [.. result.GetProperty("cookies").EnumerateArray().Select(c => new BrowserCookie(
            c.GetProperty("name").GetString()!,
            c.GetProperty("value").GetString()!,
            c.GetProperty("domain").GetString()!,
            c.GetProperty("path").GetString()!,
            c.GetProperty("httpOnly").GetBoolean(),
            c.GetProperty("secure").GetBoolean()))];
    }

    /// <summary>The current DOM serialized as HTML (not the bytes the server sent).</summary>
    public Task<string> ContentAsync(CancellationToken ct = default) =>
        EvaluateAsync<string>("document.documentElement.outerHTML", ct);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await connection.SendAsync("Target.closeTarget", new JsonObject { ["targetId"] = targetId }, null, TimeSpan.FromSeconds(2), default);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or ObjectDisposedException)
        {
            // The browser is gone or going: its disposal cleans up.
        }
    }

    async Task<JsonElement> EvaluateAsync(string expression, TimeSpan timeout, CancellationToken ct)
    {
        var result = await connection.SendAsync("Runtime.evaluate", new JsonObject
        {
            ["expression"] = expression,
            ["awaitPromise"] = true,
            ["returnByValue"] = true,
        }, sessionId, timeout, ct);
        if (result.TryGetProperty("exceptionDetails", out var details))
        {
            var message = details.TryGetProperty("exception", out var exception) && exception.TryGetProperty("description", out var description)
                ? description.GetString()
                : details.GetProperty("text").GetString();
            throw new InvalidOperationException($"JavaScript threw while evaluating `{expression}`: {message}");
        }
        // `undefined` has no value.
        return result.GetProperty("result").TryGetProperty("value", out var value) ? value : default;
    }

    static T FromJson<T>(JsonElement value)
    {
        if (value.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
            return default!;
        return value.Deserialize<T>(JsonSerializerOptions.Web)!;
    }

    static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    Task<JsonElement> SendAsync(string method, JsonObject? parameters, CancellationToken ct) =>
        connection.SendAsync(method, parameters, sessionId, browser.Timeout, ct);
}

/// <summary>A cookie as the browser stores it.</summary>
public sealed record BrowserCookie(string Name, string Value, string Domain, string Path, bool HttpOnly, bool Secure);

readonly record struct CdpEvent(string Method, JsonElement Params);

/// <summary>
/// The DevTools WebSocket: numbered commands matched to their answers, and events routed by session.
/// </summary>
sealed class CdpConnection : IAsyncDisposable
{
    readonly ClientWebSocket socket;
    readonly Func<string> describeBrowser;
    readonly SemaphoreSlim sendLock = new(1, 1);
    readonly ConcurrentDictionary<long, Pending> pending = new();
    readonly List<(string SessionId, ChannelWriter<CdpEvent> Sink)> subscribers = [];
    readonly CancellationTokenSource stop = new();
    readonly Task receiving;
    long nextId;
    volatile string? closedReason;

    CdpConnection(ClientWebSocket socket, Func<string> describeBrowser)
    {
        this.socket = socket;
        this.describeBrowser = describeBrowser;
        receiving = Task.Run(ReceiveLoopAsync);
    }

    public static async Task<CdpConnection> ConnectAsync(Uri url, Func<string> describeBrowser, TimeSpan timeout, CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        try
        {
            await socket.ConnectAsync(url, ct).WaitAsync(timeout, ct);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new CdpConnection(socket, describeBrowser);
    }

    public bool IsClosed => closedReason is not null;

    public string Describe() => describeBrowser();

    public async Task<JsonElement> SendAsync(string method, JsonObject? parameters, string? sessionId, TimeSpan timeout, CancellationToken ct)
    {
        if (closedReason is { } reason)
            throw new InvalidOperationException($"Cannot send {method}: {reason}{describeBrowser()}");
        var id = Interlocked.Increment(ref nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (sessionId is not null)
            message["sessionId"] = sessionId;
        var answer = new Pending(method);
        pending[id] = answer;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            // Closed between the check above and registering: Close() did not see this command.
            if (closedReason is { } lateReason)
                throw new InvalidOperationException($"Cannot send {method}: {lateReason}{describeBrowser()}");
            var bytes = Encoding.UTF8.GetBytes(message.ToJsonString());
            // One deadline for the whole exchange; a cancelled send aborts the socket, which is
            // right: a browser that cannot take a command within the timeout is not coming back.
            await sendLock.WaitAsync(deadline.Token);
            try
            {
                await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, deadline.Token);
            }
            finally
            {
                sendLock.Release();
            }
            return await answer.Result.Task.WaitAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"Chromium did not answer {method} within {timeout.TotalSeconds:0.###} s.{describeBrowser()}");
        }
        catch (WebSocketException e)
        {
            throw new InvalidOperationException($"Cannot send {method}: {e.Message}{describeBrowser()}", e);
        }
        finally
        {
            pending.TryRemove(id, out _);
        }
    }

    /// <summary>Copies the session's events into <paramref name="sink"/> until disposed.</summary>
    public IDisposable Subscribe(string sessionId, ChannelWriter<CdpEvent> sink)
    {
        lock (subscribers)
            subscribers.Add((sessionId, sink));
        return new Unsubscribe(() =>
        {
            lock (subscribers)
                subscribers.Remove((sessionId, sink));
            sink.TryComplete();
        });
    }

    public async ValueTask DisposeAsync()
    {
        closedReason ??= "the browser was disposed.";
        stop.Cancel();
        socket.Abort();
        try
        {
            await receiving.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // The loop is stuck in the runtime; the socket is aborted anyway.
        }
        socket.Dispose();
        stop.Dispose();
    }

    async Task ReceiveLoopAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        try
        {
            while (true)
            {
                buffer.ResetWrittenCount();
                ValueWebSocketReceiveResult received;
                do
                {
                    received = await socket.ReceiveAsync(buffer.GetMemory(64 * 1024), stop.Token);
                    if (received.MessageType == WebSocketMessageType.Close)
                    {
                        Close("Chromium closed the DevTools connection.");
                        return;
                    }
                    buffer.Advance(received.Count);
                }
                while (!received.EndOfMessage);
                Dispatch(buffer.WrittenMemory);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            Close($"the DevTools connection was lost ({e.Message}).");
        }
        catch (Exception e)
        {
            // A malformed message must fail the callers, not be lost on a background thread.
            Close($"the DevTools connection failed ({e.GetType().Name}: {e.Message}).");
        }
    }

    void Dispatch(ReadOnlyMemory<byte> utf8)
    {
        using var document = JsonDocument.Parse(utf8);
        var root = document.RootElement;
        if (root.TryGetProperty("id", out var idElement))
        {
            if (!pending.TryGetValue(idElement.GetInt64(), out var answer))
                return;
            if (root.TryGetProperty("error", out var error))
            {
                var message = error.TryGetProperty("message", out var m) ? m.GetString() : error.GetRawText();
                answer.Result.TrySetException(new InvalidOperationException($"{answer.Method} failed: {message}"));
            }
            else
            {
                answer.Result.TrySetResult(root.TryGetProperty("result", out var result) ? result.Clone() : default);
            }
            return;
        }
        if (!root.TryGetProperty("method", out var method) || !root.TryGetProperty("sessionId", out var session))
            return;
        var sessionId = session.GetString();
        CdpEvent? cdpEvent = null;
        lock (subscribers)
        {
            foreach (var (subscribedSession, sink) in subscribers)
            {
                if (subscribedSession != sessionId)
                    continue;
                cdpEvent ??= new CdpEvent(method.GetString()!, root.TryGetProperty("params", out var p) ? p.Clone() : default);
                sink.TryWrite(cdpEvent.Value);
            }
        }
    }

    void Close(string reason)
    {
        closedReason ??= reason;
        foreach (var answer in pending.Values)
            answer.Result.TrySetException(new InvalidOperationException($"{answer.Method} got no answer: {closedReason}{describeBrowser()}"));
    }

    sealed record Pending(string Method)
    {
        public TaskCompletionSource<JsonElement> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
