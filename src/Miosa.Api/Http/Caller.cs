using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Organizations;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Http;

/// <summary>The organization a request acts for, established from its <c>msk_</c> key.</summary>
public sealed record Caller(string OrganizationId, string KeyId);

public static class CallerAuthentication
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Every /v1 endpoint: a valid organization key or 401, a key whose scopes allow the method or 403;
    /// the caller is then in HttpContext.Items. No cache: a revoked key fails on the very next request.
    /// </summary>
    public static RouteGroupBuilder RequireOrganizationKey(this RouteGroupBuilder group) =>
        group.AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            var header = http.Request.Headers.Authorization.ToString();
            var key = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
            if (ApiKeySecret.OrganizationOf(key) is not { } organizationId)
                return Problems.Of(401, "unauthorized", "Send an organization key: Authorization: Bearer msk_...");
            var organizations = http.RequestServices.GetRequiredService<IRequiredActor<OrganizationActor>>().ActorRef;
            var answer = await organizations.Ask<object>(new Authenticate(organizationId, ApiKeySecret.Hash(key!)), AskTimeout, http.RequestAborted);
            if (answer is not Authenticated authenticated)
                return Problems.Of(401, "unauthorized", "The API key is unknown or revoked.");
            if (!ApiKeyScopes.Permit(authenticated.Scopes, http.Request.Method))
                return Problems.Of(403, "insufficient_scope", $"This API key's scopes ({string.Join(", ", authenticated.Scopes)}) allow reading only.");
            http.Items[typeof(Caller)] = new Caller(authenticated.OrganizationId, authenticated.KeyId);
            return await next(ctx);
        });

    public static Caller Caller(this HttpContext http) => (Caller)http.Items[typeof(Caller)]!;

    /// <summary>Asks an entity; a rejection becomes its problem response, anything else goes to <paramref name="ok"/>.</summary>
    public static async Task<IResult> AskEntity<T>(this IActorRef region, IEntityMessage command, Func<T, IResult> ok, CancellationToken ct)
    {
        var answer = await region.Ask<object>(command, AskTimeout, ct);
        return answer switch
        {
            T value => ok(value),
            Rejection rejection => rejection.ToResult(),
            _ => Problems.Of(500, "internal_error", $"Unexpected answer {answer.GetType().Name}."),
        };
    }
}
