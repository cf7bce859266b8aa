using System.Net;
using Microsoft.AspNetCore.Http.Features;
using Miosa.Actors.Sandboxes;
using Miosa.HostAgent.Ingress;
using Yarp.ReverseProxy.Forwarder;

namespace Miosa.Api.Sandboxes;

/// <summary>
/// Forwards a sandbox's data-plane calls (exec, processes, files) to the ingress of the host it runs
/// on: bytes stream through, they never enter an actor mailbox.
/// </summary>
public sealed class SandboxDataPlane(IHttpForwarder forwarder, string clusterSecret)
{
    private readonly HttpMessageInvoker _invoker = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        EnableMultipleHttp2Connections = true,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    });

    private readonly ForwarderRequestConfig _config = new() { ActivityTimeout = TimeSpan.FromHours(24) };

    /// <summary>Streams the request to the sandbox's host; bodies over <paramref name="maxBodyBytes"/> answer 413.</summary>
    public async Task ForwardAsync(HttpContext http, SandboxView sandbox, long maxBodyBytes)
    {
        if (http.Request.ContentLength > maxBodyBytes)
        {
            await TooLarge(maxBodyBytes).ExecuteAsync(http);
            return;
        }
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = maxBodyBytes;
        var error = await forwarder.SendAsync(http, sandbox.IngressUrl!, _invoker, _config, new ToIngress(clusterSecret));
        if (error == ForwarderError.None || http.Response.HasStarted) return;
        http.Response.Clear();
        var cause = http.Features.Get<IForwarderErrorFeature>()?.Exception;
        await (cause is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }
            ? TooLarge(maxBodyBytes)
            : Problems.Of(503, "host_unreachable", $"The host running sandbox {sandbox.Id} did not answer ({error}).")).ExecuteAsync(http);
    }

    private static IResult TooLarge(long maxBodyBytes) =>
        Problems.Of(413, "body_too_large", $"This request's body is at most {maxBodyBytes} bytes.");

    private sealed class ToIngress(string clusterSecret) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext http, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken ct)
        {
            await base.TransformRequestAsync(http, proxyRequest, destinationPrefix, ct);
            // /v1/sandboxes/{id}/... -> /node/v1/sandboxes/{id}/...
            var path = NodeIngress.PathPrefix + http.Request.Path.Value!["/v1/sandboxes".Length..];
            proxyRequest.RequestUri = new Uri(destinationPrefix.TrimEnd('/') + path + http.Request.QueryString.Value);
            proxyRequest.Headers.Remove("Authorization");
            proxyRequest.Headers.Remove(NodeIngress.TokenHeader);
            proxyRequest.Headers.TryAddWithoutValidation(NodeIngress.TokenHeader, clusterSecret);
            proxyRequest.Headers.Host = null;
        }
    }
}
