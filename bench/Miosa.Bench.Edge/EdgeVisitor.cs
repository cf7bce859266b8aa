using System.Diagnostics;
using System.Net;

namespace Miosa.Bench.Edge;

/// <summary>How long until an edge answered as expected, and until it first answered anything but 404.</summary>
public sealed record PollResult(double DoneMs, double? SeenMs, int Polls);

/// <summary>
/// A visitor of preview URLs on one edge: connects to that edge on loopback whatever the URL's host
/// (as tests/Miosa.Api.Tests/PreviewApp.cs does), sends the preview host with the edge's port, keeps
/// no cookies and follows no redirects.
/// </summary>
public sealed class EdgeVisitor(string name, int edgePort) : IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        ActivityHeadersPropagator = null,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    })
    { Timeout = TimeSpan.FromSeconds(30) };

    public string Name { get; } = name;
    public int EdgePort { get; } = edgePort;

    public async Task<(HttpStatusCode Status, string Body)> GetAsync(Uri previewUrl, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{EdgePort}{previewUrl.PathAndQuery}");
        request.Headers.Host = $"{previewUrl.Host}:{EdgePort}";
        using var response = await _client.SendAsync(request, ct);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
    }

    /// <summary>
    /// Asks every <paramref name="interval"/> until <paramref name="done"/> holds; the time counts
    /// from <paramref name="since"/> (a <see cref="Stopwatch"/> timestamp) to the answer that held.
    /// </summary>
    public async Task<PollResult> UntilAsync(Uri previewUrl, Func<HttpStatusCode, string, bool> done, long since, TimeSpan interval,
        TimeSpan timeout, CancellationToken ct)
    {
        double? seen = null;
        var polls = 0;
        while (true)
        {
            var (status, body) = await GetAsync(previewUrl, ct);
            polls++;
            var elapsed = Stopwatch.GetElapsedTime(since);
            if (status != HttpStatusCode.NotFound) seen ??= elapsed.TotalMilliseconds;
            if (done(status, body)) return new PollResult(elapsed.TotalMilliseconds, seen, polls);
            if (elapsed > timeout)
                throw new TimeoutException($"{Name}: {previewUrl.Host}{previewUrl.PathAndQuery} still answered {(int)status} after {timeout.TotalSeconds:F0} s");
            await Task.Delay(interval, ct);
        }
    }

    public void Dispose() => _client.Dispose();
}
