using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Miosa.Bench.Edge;

/// <summary>An API call that did not answer as the contract says.</summary>
public sealed class ApiException(string message) : Exception(message);

/// <summary>A preview as POST /v1/sandboxes/{id}/previews answers it.</summary>
public sealed record Preview(string Id, string SandboxId, int Port, Uri Url);

/// <summary>A share link as POST /v1/share-tokens answers it.</summary>
public sealed record ShareLink(string Id, Uri Url);

/// <summary>
/// The public API calls the benchmark makes, as an SDK would. Remembers every sandbox it created
/// and has not deleted, so a run always cleans up after itself.
/// </summary>
public sealed class EdgeApi(HttpClient http)
{
    public ConcurrentDictionary<string, byte> Alive { get; } = new();

    public async Task<string> CreateSandboxAsync(CancellationToken ct)
    {
        var body = await SendAsync(HttpMethod.Post, "/v1/sandboxes", new { metadata = new { purpose = "bench-edge" } }, HttpStatusCode.Created, ct);
        var id = body.GetProperty("id").GetString() ?? throw new ApiException("POST /v1/sandboxes: no id");
        Alive[id] = 0;
        return id;
    }

    public async Task DeleteSandboxAsync(string id, CancellationToken ct)
    {
        using var response = await http.DeleteAsync($"/v1/sandboxes/{id}", ct);
        if (response.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.NotFound))
            throw new ApiException($"DELETE /v1/sandboxes/{id}: {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        Alive.TryRemove(id, out _);
    }

    public async Task UploadAsync(string id, string path, string text, CancellationToken ct)
    {
        using var response = await http.PutAsync($"/v1/sandboxes/{id}/files?path={Uri.EscapeDataString(path)}", new StringContent(text), ct);
        if (response.StatusCode != HttpStatusCode.NoContent)
            throw new ApiException($"PUT files {path}: {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
    }

    public Task StartBackgroundAsync(string id, string command, CancellationToken ct) =>
        SendAsync(HttpMethod.Post, $"/v1/sandboxes/{id}/exec", new { command, background = true }, HttpStatusCode.Accepted, ct);

    public async Task<int> ExecAsync(string id, string command, CancellationToken ct)
    {
        var body = await SendAsync(HttpMethod.Post, $"/v1/sandboxes/{id}/exec", new { command }, HttpStatusCode.OK, ct);
        return body.GetProperty("exit_code").GetInt32();
    }

    public async Task<Preview> OpenPreviewAsync(string sandboxId, int port, string visibility, CancellationToken ct)
    {
        var body = await SendAsync(HttpMethod.Post, $"/v1/sandboxes/{sandboxId}/previews", new { port, visibility }, HttpStatusCode.Created, ct);
        return new Preview(body.GetProperty("id").GetString()!, sandboxId, port, new Uri(body.GetProperty("url").GetString()!));
    }

    public Task ClosePreviewAsync(string previewId, CancellationToken ct) =>
        SendAsync(HttpMethod.Delete, $"/v1/previews/{previewId}", null, HttpStatusCode.NoContent, ct);

    public async Task<ShareLink> CreateShareLinkAsync(string sandboxId, int port, CancellationToken ct)
    {
        var body = await SendAsync(HttpMethod.Post, "/v1/share-tokens", new { sandbox_id = sandboxId, port }, HttpStatusCode.Created, ct);
        return new ShareLink(body.GetProperty("id").GetString()!, new Uri(body.GetProperty("url").GetString()!));
    }

    public Task RevokeShareLinkAsync(string id, CancellationToken ct) =>
        SendAsync(HttpMethod.Delete, $"/v1/share-tokens/{id}", null, HttpStatusCode.NoContent, ct);

    public Task SetBrandingAsync(string accentColor, CancellationToken ct) =>
        SendAsync(HttpMethod.Put, "/v1/tenant/branding", new { logo_url = "https://bench.test/logo.png", accent_color = accentColor }, HttpStatusCode.OK, ct);

    private async Task<JsonElement> SendAsync(HttpMethod method, string path, object? body, HttpStatusCode expected, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (response.StatusCode != expected)
            throw new ApiException($"{method} {path}: expected {(int)expected}, got {(int)response.StatusCode}: {(text.Length <= 400 ? text : text[..400] + "…")}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }
}
