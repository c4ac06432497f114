"""Get a validated Pydantic object back, and see what include_raw returns."""

from pydantic import BaseModel, Field

from langchain_nebula import ChatNebula


class City(BaseModel):
    """A city and the country it is in."""

    name: str = Field(description="The city's name")
    country: str


model = ChatNebula(temperature=0)
print(model.with_structured_output(City).invoke("Where is the Louvre?"))

result = model.with_structured_output(City, include_raw=True).invoke("Where is the Colosseum?")
print("parsed:", result["parsed"], "| error:", result["parsing_error"])
