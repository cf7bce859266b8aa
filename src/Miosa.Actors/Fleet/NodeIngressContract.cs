namespace Miosa.Actors.Fleet;

/// <summary>
/// How the API and the edges reach a host's data plane (its node ingress): the path, the header
/// carrying the cluster secret, and the headers of the port bridge.
/// </summary>
public static class NodeIngressContract
{
    public const string PathPrefix = "/node/v1/sandboxes";
    public const string TokenHeader = "X-Miosa-Node-Token";

    /// <summary>The public host the user asked for (set by the edge); the sandbox's app sees it as Host.</summary>
    public const string OriginalHostHeader = "X-Forwarded-Host";

    /// <summary>Marks an answer the ingress itself gave (e.g. app_not_listening) rather than the app, with its code.</summary>
    public const string ErrorHeader = "X-Miosa-Error";

    /// <summary>The ingress URL prefix for one port of one sandbox; the request path follows it.</summary>
    public static string PortPrefix(string ingressUrl, string sandboxId, int port) =>
        $"{ingressUrl.TrimEnd('/')}{PathPrefix}/{sandboxId}/ports/{port}";
}
