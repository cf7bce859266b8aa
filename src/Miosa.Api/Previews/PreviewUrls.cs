using Miosa.Actors.Hosting;
using Miosa.Edge;

namespace Miosa.Api.Previews;

/// <summary>
/// The public URL of a preview: <c>http://&lt;port&gt;-&lt;sandbox&gt;.sandbox.&lt;base domain&gt;[:&lt;edge port&gt;]</c>.
/// The edge port is the configured one, or the one this node's own edge bound (port 0 in tests).
/// </summary>
public sealed class PreviewUrls(MiosaNodeOptions options)
{
    private int _edgePort = options.EdgePort;

    public void UseEdgePort(int port) => _edgePort = port;

    public string Of(string sandboxId, int port) =>
        $"http://{PreviewAddress.Host(sandboxId, port, options.BaseDomain)}{(_edgePort is 80 ? "" : $":{_edgePort}")}/";

    /// <summary>A deployment's fallback URL: <c>http://&lt;slug&gt;.&lt;workspace or organization slug&gt;.&lt;base domain&gt;[:&lt;edge port&gt;]/</c>.</summary>
    public string OfDeployment(string hostLabel) => DeploymentServer.Url(hostLabel, options.BaseDomain, _edgePort);
}
