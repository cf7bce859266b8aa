using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Miosa.Api.Tests;

/// <summary>
/// A real single-node Miosa: the built Miosa.Api started as its own process on loopback with a
/// fresh data dir, so tests can also kill -9 it and start it again on the same data.
/// </summary>
public sealed class MiosaNode : IAsyncDisposable
{
    public const string AdminToken = "test-admin-token";
    private Process? _process;
    private readonly StringBuilder _output = new();

    public MiosaNode(string? dataDir = null)
    {
        DataDir = dataDir ?? Directory.CreateTempSubdirectory("miosa-test-").FullName;
        // Sandbox uids must pass through the data dir to reach their workspaces (docs/operations.md).
        File.SetUnixFileMode(DataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
    }

    public string DataDir { get; }

    /// <summary>Extra MIOSA_* settings for this node (e.g. MIOSA_DATABASE), applied on every start.</summary>
    public Dictionary<string, string> Environment { get; } = [];
    public int ApiPort { get; } = FreePort();
    public int EdgePort { get; } = FreePort();
    public int AkkaPort { get; } = FreePort();
    public Uri Api => new($"http://127.0.0.1:{ApiPort}");
    public string DefaultKey => File.ReadAllText(Path.Combine(DataDir, "default-org.key")).Trim();
    public string Output { get { lock (_output) return _output.ToString(); } }

    public async Task StartAsync()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Miosa.Api.dll");
        var info = new ProcessStartInfo("dotnet", [dll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        info.Environment["MIOSA_DATA_DIR"] = DataDir;
        info.Environment["MIOSA_API_PORT"] = ApiPort.ToString();
        info.Environment["MIOSA_EDGE_PORT"] = EdgePort.ToString();
        info.Environment["MIOSA_AKKA_PORT"] = AkkaPort.ToString();
        info.Environment["MIOSA_ADMIN_TOKEN"] = AdminToken;
        info.Environment["MIOSA_NODE_NAME"] = "test-node";
        foreach (var (name, value) in Environment) info.Environment[name] = value;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_output) _output.AppendLine(e.Data);
            if (e.Data.StartsWith("miosa: ready", StringComparison.Ordinal)) ready.TrySetResult();
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(90)));
        if (first != ready.Task) throw new InvalidOperationException($"Miosa did not become ready:\n{Output}");
    }

    /// <summary>kill -9: no shutdown hooks, nothing flushed.</summary>
    public async Task KillAsync()
    {
        if (_process is null) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process = null;
        ThawOrphanedSandboxes();
    }

    /// <summary>
    /// A frozen sandbox does not receive the kill its node's death sends (cgroup v1 holds signals
    /// while frozen): the node's next start would kill it, but a test node never starts again.
    /// </summary>
    private void ThawOrphanedSandboxes()
    {
        var sandboxes = Path.Combine(DataDir, "sandboxes");
        if (!Directory.Exists(sandboxes)) return;
        foreach (var id in Directory.GetDirectories(sandboxes).Select(Path.GetFileName))
        {
            var state = Path.Combine("/sys/fs/cgroup/freezer/miosa", id!, "freezer.state");
            try
            {
                if (File.Exists(state) && File.ReadAllText(state).Trim() != "THAWED") File.WriteAllText(state, "THAWED");
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }
    }

    public HttpClient Client(string? key = null)
    {
        var client = new HttpClient { BaseAddress = Api, Timeout = TimeSpan.FromMinutes(3) };
        key ??= DefaultKey;
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>A second organization through the operator API; returns its key.</summary>
    public async Task<string> CreateOrganizationAsync(string slug)
    {
        using var admin = new HttpClient { BaseAddress = Api };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        var response = await admin.PostAsync("/admin/v1/organizations", Json(new { slug, name = slug }));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadJsonAsync()).GetProperty("api_key").GetString()!;
    }

    public static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        // The node's sandbox volume stays mounted for its next start; this node is gone for good.
        Miosa.HostAgent.Storage.BtrfsVolume.Unmount(DataDir);
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // A sandbox that was still being torn down; the temp dir is reclaimed later.
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

public static class HttpExtensions
{
    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    public static async Task<JsonElement> PostJsonAsync(this HttpClient client, string path, object body, HttpStatusCode expected)
    {
        var response = await client.PostAsync(path, MiosaNode.Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"POST {path}: expected {expected}, got {response.StatusCode}: {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<string> CreateSandboxAsync(this HttpClient client, object? body = null) =>
        (await client.PostJsonAsync("/v1/sandboxes", body ?? new { }, HttpStatusCode.Created)).GetProperty("id").GetString()!;

    public static async Task<JsonElement> ExecAsync(this HttpClient client, string sandboxId, object body) =>
        await client.PostJsonAsync($"/v1/sandboxes/{sandboxId}/exec", body, HttpStatusCode.OK);

    /// <summary>Asserts an RFC 9457 problem with the given status, code and (optionally) field.</summary>
    public static async Task AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string code, string? field = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {text}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"not a problem: {response.Content.Headers.ContentType}: {text}");
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
        if (field is not null) Assert.Equal(field, problem.GetProperty("field").GetString());
    }
}

/// <summary>One node shared by the tests of a collection (starting one takes seconds).</summary>
public sealed class SharedNode : IAsyncLifetime
{
    public MiosaNode Node { get; } = new();
    public Task InitializeAsync() => Node.StartAsync();
    public Task DisposeAsync() => Node.DisposeAsync().AsTask();
}

[CollectionDefinition(Name)]
public sealed class SharedNodeCollection : ICollectionFixture<SharedNode>
{
    public const string Name = "shared node";
}
