using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Miosa.Bench;

/// <summary>An API call that did not answer as the contract says.</summary>
public sealed class ApiException(string message, HttpStatusCode? status = null) : Exception(message)
{
    public HttpStatusCode? Status { get; } = status;
}

/// <summary>
/// The sandbox calls of the public HTTP API, as an SDK would make them. Remembers every sandbox
/// it created and has not deleted, so a run can always clean up after itself.
/// </summary>
public sealed class SandboxApi(HttpClient http, int? memoryMb = null)
{
    private readonly byte[] _createBody = Encoding.UTF8.GetBytes(memoryMb is null
        ? """{"metadata":{"purpose":"bench"}}"""
        : $$$"""{"metadata":{"purpose":"bench"},"resources":{"memory_mb":{{{memoryMb}}}}}""");
    private static readonly byte[] ExecTrueBody = Encoding.UTF8.GetBytes("""{"command":["true"]}""");

    public ConcurrentDictionary<string, byte> Alive { get; } = new();

    /// <summary>POST /v1/sandboxes; returns once it answers 201 (the sandbox is ready for exec).</summary>
    public Task<string> CreateAsync(CancellationToken ct) => CreateAsync(_createBody, ct);

    /// <summary>POST /v1/sandboxes with extra top-level fields (e.g. <c>"timeout_seconds":0</c>) next to the usual body.</summary>
    public Task<string> CreateAsync(string extraFields, CancellationToken ct) =>
        CreateAsync(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(_createBody)[..^1] + "," + extraFields + "}"), ct);

    private async Task<string> CreateAsync(byte[] body, CancellationToken ct)
    {
        using var response = await http.PostAsync("/v1/sandboxes", Json(body), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (response.StatusCode != HttpStatusCode.Created) throw Unexpected("POST /v1/sandboxes", response.StatusCode, text);
        var id = JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()
                 ?? throw new ApiException("POST /v1/sandboxes: no id");
        Alive[id] = 0;
        return id;
    }

    /// <summary>POST /v1/sandboxes/{id}/suspend or /resume: 200 with the state the call promises.</summary>
    public async Task SuspendAsync(string id, CancellationToken ct) => await TransitionAsync(id, "suspend", "suspended", ct);

    /// <inheritdoc cref="SuspendAsync"/>
    public async Task ResumeAsync(string id, CancellationToken ct) => await TransitionAsync(id, "resume", "running", ct);

    /// <summary>POST exec {"command": shell, "background": true}: 202 (the process keeps running).</summary>
    public async Task StartBackgroundAsync(string id, string shell, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new { command = shell, background = true });
        using var response = await http.PostAsync($"/v1/sandboxes/{id}/exec", Json(body), ct);
        if (response.StatusCode != HttpStatusCode.Accepted)
            throw Unexpected($"POST /v1/sandboxes/{id}/exec (background)", response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    /// <summary>DELETE /v1/sandboxes/{id}: 204 (or 404 when it is already gone).</summary>
    public async Task DeleteAsync(string id, CancellationToken ct)
    {
        using var response = await http.DeleteAsync($"/v1/sandboxes/{id}", ct);
        if (response.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.NotFound))
            throw Unexpected($"DELETE /v1/sandboxes/{id}", response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        Alive.TryRemove(id, out _);
    }

    /// <summary>POST exec {"command":["true"]}: 200 with exit_code 0.</summary>
    public async Task ExecTrueAsync(string id, CancellationToken ct)
    {
        using var response = await http.PostAsync($"/v1/sandboxes/{id}/exec", Json(ExecTrueBody), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (response.StatusCode != HttpStatusCode.OK) throw Unexpected($"POST /v1/sandboxes/{id}/exec", response.StatusCode, text);
        var exit = JsonDocument.Parse(text).RootElement.GetProperty("exit_code").GetInt32();
        if (exit != 0) throw new ApiException($"exec true in {id} exited {exit}: {Shorten(text)}");
    }

    /// <summary>PUT /v1/sandboxes/{id}/files?path=P with the file's bytes as the raw body: 204.</summary>
    public async Task UploadAsync(string id, string path, string localFile, CancellationToken ct)
    {
        await using var file = new FileStream(localFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        using var content = new StreamContent(file, 1 << 20);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = file.Length;
        using var response = await http.PutAsync(FilesUrl(id, path), content, ct);
        if (response.StatusCode != HttpStatusCode.NoContent)
            throw Unexpected($"PUT files {path}", response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    /// <summary>GET /v1/sandboxes/{id}/files?path=P streamed into a local file; returns its length.</summary>
    public async Task<long> DownloadAsync(string id, string path, string localFile, CancellationToken ct)
    {
        using var response = await http.GetAsync(FilesUrl(id, path), HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.StatusCode != HttpStatusCode.OK)
            throw Unexpected($"GET files {path}", response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        await using var file = new FileStream(localFile, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        await body.CopyToAsync(file, 1 << 20, ct);
        return file.Length;
    }

    /// <summary>GET /v1/sandboxes/{id}: its state, or null when it answers 404.</summary>
    public async Task<string?> StateAsync(string id, CancellationToken ct)
    {
        using var response = await http.GetAsync($"/v1/sandboxes/{id}", ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        if (response.StatusCode != HttpStatusCode.OK) throw Unexpected($"GET /v1/sandboxes/{id}", response.StatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("state").GetString();
    }

    private async Task TransitionAsync(string id, string action, string expected, CancellationToken ct)
    {
        using var response = await http.PostAsync($"/v1/sandboxes/{id}/{action}", Json("{}"u8.ToArray()), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (response.StatusCode != HttpStatusCode.OK) throw Unexpected($"POST /v1/sandboxes/{id}/{action}", response.StatusCode, text);
        var state = JsonDocument.Parse(text).RootElement.GetProperty("state").GetString();
        if (state != expected) throw new ApiException($"POST /v1/sandboxes/{id}/{action}: state {state}, not {expected}");
    }

    private static string FilesUrl(string id, string path) => $"/v1/sandboxes/{id}/files?path={Uri.EscapeDataString(path)}";

    private static ByteArrayContent Json(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static ApiException Unexpected(string call, HttpStatusCode status, string body) =>
        new($"{call}: {(int)status} {status}: {Shorten(body)}", status);

    private static string Shorten(string text) => text.Length <= 400 ? text : text[..400] + "…";
}
