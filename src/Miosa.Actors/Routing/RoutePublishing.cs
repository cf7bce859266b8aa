using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;

namespace Miosa.Actors.Routing;

public static class RoutePublishing
{
    /// <summary>
    /// Tells every edge (through the DistributedPubSub mediator) about a route that changed. Called
    /// after the change is persisted; an edge that misses it catches up from the full table.
    /// </summary>
    public static void PublishRoute(this IActorRef mediator, IRoute route) => mediator.Tell(new Publish(RouteTopic.Name, route));
}
