using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Terminals;
using Miosa.Api.Http;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Sandboxes;

/// <summary>
/// A browser terminal into a sandbox (docs/terminal.md): an organization key mints a short-lived
/// <c>mt_</c> token, and the token alone opens the terminal WebSocket (a browser cannot send an
/// Authorization header on a WebSocket).
/// </summary>
public static class TerminalEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// <c>POST /v1/sandboxes/{id}/terminal-tokens</c> in the organization-key group, and
    /// <c>GET /v1/sandboxes/{id}/terminal</c> outside it: the token is its credential.
    /// </summary>
    public static void MapTerminalEndpoints(this IEndpointRouteBuilder app, RouteGroupBuilder v1)
    {
        v1.MapPost("/sandboxes/{id}/terminal-tokens", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, TerminalTokenKeys keys, CancellationToken ct) =>
        {
            JsonRequest? body = null;
            // Every field is optional: no body at all is a default token.
            if (http.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != false)
            {
                var (read, error) = await JsonRequest.ReadAsync(http.Request, ct);
                if (read is null) return error!.ToResult();
                body = read;
            }
            var ttl = body?.Int("ttl_seconds", 1, (int)TerminalTokenKeys.MaxLifetime.TotalSeconds) ?? (int)TerminalTokenKeys.DefaultLifetime.TotalSeconds;
            var cols = body?.Int("cols", 1, TerminalTokenKeys.MaxSize) ?? TerminalTokenKeys.DefaultCols;
            var rows = body?.Int("rows", 1, TerminalTokenKeys.MaxSize) ?? TerminalTokenKeys.DefaultRows;
            if (body?.Error is { } invalid) return invalid.ToResult();
            var organizationId = http.Caller().OrganizationId;
            var (sandbox, refused) = await RunningSandboxAsync(sandboxes.ActorRef, id, organizationId, ct);
            if (sandbox is null) return refused!;

            // Whole seconds, as the token carries it: expires_at is exactly when it stops opening.
            var expiresAt = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() + ttl);
            var token = keys.Sign(new TerminalGrant(organizationId, sandbox.Id, cols, rows, expiresAt));
            return Results.Json(new
            {
                token,
                expires_at = expiresAt,
                sandbox_id = sandbox.Id,
                cols,
                rows,
                url = $"{(http.Request.IsHttps ? "wss" : "ws")}://{http.Request.Host}/v1/sandboxes/{sandbox.Id}/terminal?token={token}",
            }, statusCode: 201);
        });

        app.MapGet("/v1/sandboxes/{id}/terminal", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, TerminalTokenKeys keys, SandboxTerminalProxy proxy) =>
        {
            var token = http.Request.Query["token"].ToString();
            if (token.Length == 0)
                return Problems.Of(401, "unauthorized", "A terminal opens with ?token=mt_... from POST /v1/sandboxes/{id}/terminal-tokens.");
            // Checked before anything is looked up: a refusal says nothing about the sandbox.
            if (keys.Verify(token) is not { } grant || grant.SandboxId != id)
                return Problems.Of(401, "invalid_token", "The terminal token is not valid for this sandbox.");
            if (!grant.Opens(id, DateTimeOffset.UtcNow))
                return Problems.Of(401, "token_expired", "The terminal token has expired; ask for a new one.");
            var (sandbox, refused) = await RunningSandboxAsync(sandboxes.ActorRef, id, grant.OrganizationId, http.RequestAborted);
            if (sandbox is null) return refused!;
            if (!SandboxTerminalProxy.IsWebSocketRequest(http))
                return Problems.Of(400, "websocket_required", "The terminal is a WebSocket: connect with an Upgrade: websocket request.");
            await proxy.ForwardAsync(http, sandbox, grant);
            return Results.Empty;
        });
    }

    /// <summary>The sandbox when it belongs to the organization and runs (or sleeps); else the problem to answer.</summary>
    private static async Task<(SandboxView? Sandbox, IResult? Refused)> RunningSandboxAsync(IActorRef sandboxes, string id, string organizationId, CancellationToken ct)
    {
        if (!ResourceId.IsValid(id, IdPrefix.Sandbox)) return (null, Problems.Of(404, "sandbox_not_found", $"Sandbox {id} does not exist."));
        var answer = await sandboxes.Ask<object>(new GetSandbox(id, organizationId), AskTimeout, ct);
        if (answer is Rejection rejection) return (null, rejection.ToResult());
        var sandbox = (SandboxView)answer;
        // A suspended sandbox is woken by its host's ingress, as for exec (or refused there without auto_resume).
        if (sandbox.Status is not (SandboxStatus.Running or SandboxStatus.Suspended) || sandbox.IngressUrl is null)
            return (null, Problems.Of(409, "sandbox_not_running", $"Sandbox {id} is {sandbox.Status.ToString().ToLowerInvariant()}, not running."));
        return (sandbox, null);
    }
}
