/// The API's OpenAPI 3.1 description: `Sources/Server/openapi.yaml`, compiled into the binary and served at
/// `/openapi.yaml`. `ServerTests` fails when a route the router serves is missing there, or a path there is not
/// served, and checks real answers against its schemas.
public enum OpenAPIDocument {
    public static let yaml = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
}
